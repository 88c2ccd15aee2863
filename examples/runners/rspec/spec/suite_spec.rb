# A tiny RSpec suite for flakebox's runner-adapter tests (crates/runners).
#
# - "stable": always passes.
# - "leaves a marker": models a test that leaves state in /tmp: it passes on
#   the first run and fails on every later one, because the marker file it
#   creates is still there (the fs factor fixes it). The directory is
#   $FLAKEBOX_EXAMPLE_STATE (the adapter tests give it a fresh one), else /tmp.
# - "plain fails" / "plain passes": deterministic, so that selection and
#   ordering are observable.
MARKER = File.join(ENV.fetch("FLAKEBOX_EXAMPLE_STATE", "/tmp"), "flakebox-runners-rspec.marker")

RSpec.describe "suite" do
  it "stable" do
    expect([3, 1, 2].sort).to eq([1, 2, 3])
  end

  it "leaves a marker" do
    expect(File.exist?(MARKER) ? "#{MARKER} was left by an earlier run" : "fresh").to eq("fresh")
    File.write(MARKER, "left behind on purpose\n")
  end

  it "plain fails" do
    expect(1 + 1).to eq(3)
  end

  it "plain passes" do
    expect("a" + "b").to eq("ab")
  end
end
