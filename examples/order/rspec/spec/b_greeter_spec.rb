require_relative "../lib/app"

RSpec.describe App::Greeter do
  it "can be made" do
    expect(App::Greeter.new).to be_a(App::Greeter)
  end

  it "greets in lower case" do
    expect(App::Greeter.new.greet).to match(/\A[a-z]+\z/)
  end

  describe "when shouting" do
    # A monkey-patch (alias_method and define_method) not undone: every
    # Greeter greets in capitals from here on.
    it "shouts the greeting" do
      App::Greeter.class_eval do
        alias_method :plain_greet, :greet
        define_method(:greet) { plain_greet.upcase }
      end
      expect(App::Greeter.new.greet).to eq("HELLO")
    end

    it "uses an exclamation mark" do
      expect("hi" + "!").to end_with("!")
    end
  end

  it "responds to greet" do
    expect(App::Greeter.new).to respond_to(:greet)
  end

  it "has no arguments to greet" do
    expect(App::Greeter.instance_method(:greet).arity).to be <= 0
  end
end
