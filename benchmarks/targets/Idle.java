// An idle JVM: a server waiting for work that does not come.
public final class Idle {
    public static void main(String[] args) throws Exception {
        Thread.sleep(Long.MAX_VALUE);
    }
}
