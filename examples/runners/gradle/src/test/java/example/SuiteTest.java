// A tiny JUnit 4 suite for flakebox's runner-adapter tests (crates/runners).
//
// - stable: always passes.
// - leavesMarker: models a test that leaves state in /tmp: it passes on the
//   first run and fails on every later one, because the marker file it
//   creates is still there (the fs factor fixes it). The directory is
//   $FLAKEBOX_EXAMPLE_STATE (the adapter tests give it a fresh one), else /tmp.
// - plainFails / plainPasses: deterministic, so that selection is observable.
package example;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.Test;

public class SuiteTest {
    private static Path marker() {
        String dir = System.getenv().getOrDefault("FLAKEBOX_EXAMPLE_STATE", "/tmp");
        return Paths.get(dir, "flakebox-runners-gradle.marker");
    }

    @Test
    public void stable() {
        assertEquals(4, 2 + 2);
    }

    @Test
    public void leavesMarker() throws Exception {
        assertFalse(marker() + " was left by an earlier run", Files.exists(marker()));
        Files.write(marker(), "left behind on purpose\n".getBytes());
    }

    @Test
    public void plainFails() {
        assertEquals("deterministic failure", 3, 1 + 1);
    }

    @Test
    public void plainPasses() {
        assertEquals("ab", "a" + "b");
    }
}
