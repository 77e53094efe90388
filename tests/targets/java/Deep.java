// Many threads with deep stacks: each recurses through deepA/deepB to a depth, then spins; one
// more thread waits in native code (ServerSocket.accept) for JFR's native method samples.
// args: seconds threads depth
public final class Deep {
    static volatile long sink;

    static long spin(long n) {
        long total = 0;
        for (long i = 0; i < n; i++) {
            total += i ^ (total << 1);
        }
        return total;
    }

    static void deepA(int depth, long end) {
        if (depth <= 0) {
            while (System.nanoTime() < end) {
                sink += spin(100_000);
            }
        } else {
            deepB(depth - 1, end);
        }
    }

    static void deepB(int depth, long end) {
        deepA(depth - 1, end);
    }

    public static void main(String[] args) throws Exception {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 10.0;
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 16;
        int depth = args.length > 2 ? Integer.parseInt(args[2]) : 100;
        long end = System.nanoTime() + (long) (seconds * 1e9);
        java.net.ServerSocket server = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
        Thread waiter = new Thread(() -> {
            try {
                server.accept();
            } catch (java.io.IOException closed) {
                // closed at the end
            }
        }, "native-waiter");
        waiter.setDaemon(true);
        waiter.start();
        Thread[] workers = new Thread[threads];
        for (int i = 0; i < threads; i++) {
            int own = depth + i;  // every thread a different depth: many distinct stacks
            workers[i] = new Thread(() -> deepA(own, end), "deep-" + i);
            workers[i].start();
        }
        for (Thread worker : workers) {
            worker.join();
        }
        server.close();
    }
}
