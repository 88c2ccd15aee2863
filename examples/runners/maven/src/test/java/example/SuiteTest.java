// A tiny JUnit 5 suite for flakebox's runner-adapter tests (crates/runners).
//
// - stable: always passes.
// - leavesMarker: models a test that leaves state in /tmp: it passes on the
//   first run and fails on every later one, because the marker file it
//   creates is still there (the fs factor fixes it). The directory is
//   $FLAKEBOX_EXAMPLE_STATE (the adapter tests give it a fresh one), else /tmp.
// - plainFails / plainPasses: deterministic, so that selection is observable.
package example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class SuiteTest {
    private static Path marker() {
        String dir = System.getenv().getOrDefault("FLAKEBOX_EXAMPLE_STATE", "/tmp");
        return Path.of(dir, "flakebox-runners-maven.marker");
    }

    @Test
    void stable() {
        assertEquals(4, 2 + 2);
    }

    @Test
    void leavesMarker() throws Exception {
        assertFalse(Files.exists(marker()), marker() + " was left by an earlier run");
        Files.writeString(marker(), "left behind on purpose\n");
    }

    @Test
    void plainFails() {
        assertEquals(3, 1 + 1, "deterministic failure");
    }

    @Test
    void plainPasses() {
        assertEquals("ab", "a" + "b");
    }
}
