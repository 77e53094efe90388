import java.io.FileOutputStream;
import java.io.IOException;

/** Writes to /dev/null through FileOutputStream for argv[0] seconds: a Java stack over kernel frames. */
public class DevNull {
    static void gpWrite(FileOutputStream out, byte[] block) throws IOException {
        out.write(block);
    }

    public static void main(String[] args) throws IOException {
        long end = System.nanoTime() + (long) (Double.parseDouble(args.length > 0 ? args[0] : "30") * 1e9);
        byte[] block = new byte[64];
        try (FileOutputStream out = new FileOutputStream("/dev/null")) {
            while (System.nanoTime() < end) {
                gpWrite(out, block);
            }
        }
    }
}
