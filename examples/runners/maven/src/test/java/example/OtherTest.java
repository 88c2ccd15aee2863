// A second class, so class selection is observable.
package example;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class OtherTest {
    @Test
    void otherFile() {
        assertTrue(true);
    }
}
