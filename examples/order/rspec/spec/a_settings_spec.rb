require_relative "../lib/app"

RSpec.describe App::Settings do
  it "has a name" do
    expect(App::Settings.name).to eq("app")
  end

  # A class attribute changed and not restored.
  it "logs verbosely when asked to" do
    App::Settings.level = :debug
    expect(App::Settings.level).to eq(:debug)
  end

  it "knows its levels" do
    expect(%i[debug info warn]).to include(:info)
  end

  describe "plugins" do
    it "are symbols" do
      expect(:audit).to be_a(Symbol)
    end

    # Leaves a plugin in the process-wide registry (a constant).
    it "registers the audit plugin" do
      App.register(:audit)
      expect(App::PLUGINS).to include(:audit)
    end

    it "can be compared" do
      expect(%i[a b].sort).to eq(%i[a b])
    end
  end
end
