// Spins like Busy for args[0] seconds, then crashes the JVM (a write to address 0 through
// sun.misc.Unsafe): HotSpot writes hs_err_pid<pid>.log in the working directory and dies.
import java.lang.reflect.Field;

public final class Crash {
    public static void main(String[] args) throws Exception {
        Busy.spin(args.length > 0 ? Double.parseDouble(args[0]) : 5.0);
        Field field = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
        field.setAccessible(true);
        sun.misc.Unsafe unsafe = (sun.misc.Unsafe) field.get(null);
        unsafe.putAddress(0, 42);
    }
}
