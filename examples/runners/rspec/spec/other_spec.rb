# A second file, so file selection is observable.
RSpec.describe "other" do
  it "other file" do
    expect(true).to be(true)
  end
end
