// A second class, so class selection is observable.
package example;

import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class OtherTest {
    @Test
    public void otherFile() {
        assertTrue(true);
    }
}
