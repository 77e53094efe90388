<?php
// A php-fpm script: each request renders for about 30 ms of CPU in gp_render() under gp_handle().

function gp_render(): int
{
    $x = 0;
    $end = microtime(true) + 0.03;
    while (microtime(true) < $end) {
        for ($i = 0; $i < 2000; $i++) {
            $x += $i % 7;
        }
    }
    return $x;
}

function gp_handle(): string
{
    return 'rendered ' . gp_render();
}

echo gp_handle();
