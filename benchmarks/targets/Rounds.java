// Rounds of fixed CPU work; prints "<CLOCK_MONOTONIC seconds> <thread CPU seconds>" after each.
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

public final class Rounds {
    static volatile long sink;

    static long work() {
        long total = 0;
        for (long i = 0; i < 300_000_000L; i++) {
            total += i % 7;
        }
        return total;
    }

    public static void main(String[] args) {
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        while (true) {
            long cpu = threads.getCurrentThreadCpuTime();
            sink += work();
            double seconds = (threads.getCurrentThreadCpuTime() - cpu) / 1e9;
            System.out.println(System.nanoTime() / 1e9 + " " + seconds);
        }
    }
}
