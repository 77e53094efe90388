<?php
// A CPU-bound PHP target whose stacks test how the sampler names frames: a plain function, a
// method, a static method, a closure bound to a class, an included file's top-level code and a
// generator, each calling gp_leaf() for a slice of time in turn.
// Usage: php shapes.php TRACE_FILE [SECONDS]. The first time each shape reaches gp_leaf, the
// target appends one JSON line {"shape": ..., "trace": debug_backtrace()} to TRACE_FILE: what PHP
// itself says the call chain is, for the test to compare with the sampler's frames.

$GLOBALS['gp_trace_file'] = $argv[1];
$GLOBALS['gp_traced'] = [];

function gp_leaf(string $shape): int
{
    if (!isset($GLOBALS['gp_traced'][$shape])) {
        $GLOBALS['gp_traced'][$shape] = true;
        $trace = debug_backtrace(DEBUG_BACKTRACE_IGNORE_ARGS);
        file_put_contents($GLOBALS['gp_trace_file'], json_encode(['shape' => $shape, 'trace' => $trace]) . "\n", FILE_APPEND);
    }
    $x = 0;
    for ($i = 0; $i < 300000; $i++) {
        $x += $i % 7;
    }
    return $x;
}

function gp_mid(): int
{
    return gp_leaf('plain');
}

class GpWorker
{
    public function gpMethod(): int
    {
        return gp_leaf('method');
    }

    public static function gpStatic(): int
    {
        return gp_leaf('static');
    }

    public function gpClosure(): Closure
    {
        return function (): int {
            return gp_leaf('closure');
        };
    }
}

function gp_generator(): Generator
{
    while (true) {
        yield gp_leaf('generator');
    }
}

$end = microtime(true) + (float)($argv[2] ?? 30);
$worker = new GpWorker();
$closure = $worker->gpClosure();
$generator = gp_generator();
while (microtime(true) < $end) {
    gp_mid();
    $worker->gpMethod();
    GpWorker::gpStatic();
    $closure();
    include __DIR__ . '/shapes_include.php';
    $generator->next();
}
