"""Where the PHP sampler finds what it reads in the Zend engine's structures, per PHP version
(non-ZTS builds, x86-64: 8-byte pointers, the ABI's natural alignment).

Sources of the numbers: php-src's Zend headers of each version (`Zend/zend_globals.h` for
`zend_executor_globals`, `Zend/zend_compile.h` for `zend_execute_data`, `zend_op_array`,
`zend_function`, `zend_op`, `Zend/zend_types.h` for `zend_string`, `zend_class_entry` in
`Zend/zend.h`), read here as the offsets listed in phpspy's per-version struct dumps
(`structs/x86_64/php_structs_<74..85>.h`, made with gdb's `ptype /o` on each release).
`tests/unit/test_php_layouts.py` compiles `offsetof` against the headers of the PHP installed here
(Debian 12's 8.2, from php8.2-dev) and compares them with this table, so the row that the
integration tests run against is proven by the compiler, not only by reading.

What moves between versions is `current_execute_data` inside `zend_executor_globals` (fields
added before it in 8.5) and `filename`/`line_start` inside `zend_op_array` (fields added or removed
before them in 8.0, 8.2, 8.3 and 8.4). The rest has not moved since PHP 7.0.
"""

import dataclasses
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PhpLayout:
    version: str  # major.minor
    # zend_executor_globals (the `executor_globals` symbol of a non-ZTS build)
    eg_current_execute_data: int = 488
    # zend_execute_data: one call frame
    ed_opline: int = 0  # const zend_op *: the instruction running (or calling the next frame)
    ed_func: int = 24  # zend_function *
    ed_prev: int = 48  # zend_execute_data *prev_execute_data
    # zend_function (a union: common part, then zend_op_array for user code)
    fn_type: int = 0  # zend_uchar: ZEND_INTERNAL_FUNCTION 1, ZEND_USER_FUNCTION 2, ZEND_EVAL_CODE 4
    fn_name: int = 8  # zend_string *function_name (NULL for a file's top-level code)
    fn_scope: int = 16  # zend_class_entry *scope
    op_filename: int = 152  # zend_op_array.filename
    op_line_start: int = 160  # zend_op_array.line_start (uint32)
    # zend_class_entry
    ce_name: int = 8
    # zend_string: refcounted header (type in type_info's low 4 bits), hash, len, then the bytes
    str_type_info: int = 4
    str_len: int = 16
    str_val: int = 24
    # zend_op
    op_lineno: int = 24  # uint32


ZEND_INTERNAL_FUNCTION = 1
ZEND_USER_FUNCTION = 2
ZEND_EVAL_CODE = 4
IS_STRING = 6  # GC_TYPE of a zend_string
ZEND_INTERNAL_CLASS, ZEND_USER_CLASS = 1, 2

_PHP_82 = PhpLayout("8.2")
LAYOUTS: dict[str, PhpLayout] = {
    "7.4": dataclasses.replace(_PHP_82, version="7.4", op_filename=136, op_line_start=144),
    "8.0": dataclasses.replace(_PHP_82, version="8.0", op_filename=144, op_line_start=152),
    "8.1": dataclasses.replace(_PHP_82, version="8.1", op_filename=144, op_line_start=152),
    "8.2": _PHP_82,
    "8.3": dataclasses.replace(_PHP_82, version="8.3", op_filename=144, op_line_start=152),
    "8.4": dataclasses.replace(_PHP_82, version="8.4", op_filename=168, op_line_start=176),
}

_MAJOR_MINOR = re.compile(r"^(\d+\.\d+)\.")


def major_minor(version: str | None) -> str | None:
    match = _MAJOR_MINOR.match(version or "")
    return match.group(1) if match else None


def layout_for(version: str | None) -> PhpLayout | None:
    """The layout of a PHP version ("8.2.36"); None for versions not in the table."""
    key = major_minor(version)
    return LAYOUTS.get(key) if key else None
