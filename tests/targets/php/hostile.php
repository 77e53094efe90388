<?php
// A PHP target with awkward stacks: a 700-deep recursion, a function whose name is not ASCII, and
// code in a file whose name holds `;` and a line separator (the path is argv[2], made by the test).
// Usage: php hostile.php SECONDS INCLUDED_FILE

function gp_ünïcode_名前(): int
{
    $x = 0;
    for ($i = 0; $i < 200000; $i++) {
        $x += $i % 7;
    }
    return $x;
}

function gp_recurse(int $depth): int
{
    return $depth > 0 ? gp_recurse($depth - 1) : gp_ünïcode_名前();
}

$end = microtime(true) + (float)$argv[1];
while (microtime(true) < $end) {
    gp_recurse(700);
    include $argv[2];
}
