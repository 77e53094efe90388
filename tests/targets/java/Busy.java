// A CPU-bound Java target with a known call chain: Busy.main -> Busy.mid -> Busy.leaf.
// Runs for args[0] seconds (default 30); args[1] extra threads doing the same (default 0).
public final class Busy {
    static volatile long sink;

    static long leaf(long n) {
        long total = 0;
        for (long i = 0; i < n; i++) {
            total += i * i ^ (total >>> 3);
        }
        return total;
    }

    static long mid(long n) {
        return leaf(n) + 1;
    }

    static void spin(double seconds) {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while (System.nanoTime() < end) {
            sink += mid(2_000_000);
        }
    }

    public static void main(String[] args) throws Exception {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 30.0;
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        for (int i = 0; i < threads; i++) {
            Thread worker = new Thread(() -> spin(seconds), "busy-worker-" + i);
            worker.setDaemon(true);
            worker.start();
        }
        spin(seconds);
    }
}
