# The code under test: settings kept on a class, a greeter, a plugin
# registry in a constant. All of it lives as long as the process does, so
# an example that changes it and does not restore it changes it for every
# later example.
module App
  # Settings in class-level attributes.
  class Settings
    class << self
      attr_accessor :level, :name
    end
    self.level = :info
    self.name = "app"
  end

  class Greeter
    def greet
      "hello"
    end
  end

  # Plugins registered for the whole process.
  PLUGINS = []

  def self.register(plugin)
    PLUGINS << plugin
  end
end
