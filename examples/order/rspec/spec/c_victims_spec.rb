require_relative "../lib/app"

# Victims: each passes alone and fails after its polluter.
RSpec.describe "victims" do
  it "logs at info by default" do
    expect(App::Settings.level).to eq(:info)
  end

  it "greets politely" do
    expect(App::Greeter.new.greet).to eq("hello")
  end

  it "starts with no plugins" do
    expect(App::PLUGINS).to be_empty
  end

  # Also intrinsically flaky: fails about one run in five even alone (its
  # randomness is the OS's, which flakebox serves from the diagnosis seed).
  it "greets politely, mostly" do
    expect(Random.urandom(1).ord % 5).not_to eq(0)
    expect(App::Greeter.new.greet).to eq("hello")
  end
end

RSpec.describe "unrelated" do
  it "adds" do
    expect(1 + 1).to eq(2)
  end

  it "joins" do
    expect(%w[a b].join).to eq("ab")
  end

  it "reverses" do
    expect("ab".reverse).to eq("ba")
  end

  it "sorts" do
    expect([3, 1, 2].sort).to eq([1, 2, 3])
  end
end
