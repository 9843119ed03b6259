# frozen_string_literal: true

# Renders the templates of a BOSH job the way the director does (bosh-template's
# EvaluationContext), without a director or the bosh-template gem: the job spec's property
# defaults, `p`, `if_p`, `link(name).p/.if_p/.address/.instances`, `if_link` and `spec`, with
# bosh-template's error messages. Used by spec/bosh/*.spec.ts.
#
#   ruby spec/bosh/render.rb CONTEXT.json
#
# CONTEXT.json:
#   job_dir     the job (its `spec` and `templates/`)
#   templates   template names to render (default: all of the spec's `templates`)
#   output_dir  optional: write each rendered file at its destination (bin/* executable) and the
#               monit file, as the agent lays out /var/vcap/jobs/<job>
#   properties  the job's properties as a manifest gives them (nested hashes)
#   links       consumed links: { name => { instances: [...], properties: {...}, address: "..." } }
#   spec        instance spec overrides: bootstrap, index, id, az, address, ip, deployment, name
#
# Prints { "files": { destination => content } } on success; on failure prints the director's
# "Unable to render templates for job ..." message to stderr and exits 1.

require 'erb'
require 'fileutils'
require 'json'
require 'ostruct'
require 'yaml'

module RenderHarness
  # bosh-template's errors, same messages.
  class UnknownProperty < StandardError
    def initialize(names)
      super("Can't find property '#{names.join("', or '")}'")
    end
  end

  class UnknownLink < StandardError
    def initialize(name)
      super("Can't find link '#{name}'")
    end
  end

  module PropertyLookup
    def lookup_property(collection, name)
      keys = name.split('.')
      ref = collection
      keys.each do |key|
        return nil unless ref.is_a?(Hash)

        ref = ref[key]
        return nil if ref.nil?
      end
      ref
    end

    def p(*args)
      names = Array(args[0])
      names.each do |name|
        result = lookup_property(property_source, name)
        return result unless result.nil?
      end
      return args[1] if args.length == 2

      raise UnknownProperty, names
    end

    def if_p(*names)
      values = names.map do |name|
        value = lookup_property(property_source, name)
        return ActiveElseBlock.new(self) if value.nil?

        value
      end
      yield(*values)
      InactiveElseBlock.new
    end
  end

  class ActiveElseBlock
    def initialize(context)
      @context = context
    end

    def else
      yield
    end

    def else_if_p(*names, &block)
      @context.if_p(*names, &block)
    end

    def else_if_link(name, &block)
      @context.if_link(name, &block)
    end
  end

  class InactiveElseBlock
    def else; end

    def else_if_p(*_names)
      InactiveElseBlock.new
    end

    def else_if_link(_name)
      InactiveElseBlock.new
    end
  end

  class LinkInstance
    include PropertyLookup
    attr_reader :name, :index, :id, :az, :address, :properties, :bootstrap

    def initialize(spec)
      @name = spec['name']
      @index = spec['index']
      @id = spec['id']
      @az = spec['az']
      @address = spec['address']
      @properties = spec['properties'] || {}
      @bootstrap = spec['bootstrap']
    end

    def property_source
      @properties
    end
  end

  class Link
    include PropertyLookup
    attr_reader :instances, :properties

    def initialize(spec)
      @instances = (spec['instances'] || []).map { |instance| LinkInstance.new(instance) }
      @properties = spec['properties'] || {}
      @address = spec['address']
    end

    def property_source
      @properties
    end

    # The director answers a bosh-dns query address for the whole link; the harness takes it as given.
    def address(_criteria = {})
      @address || raise("link has no address (give links.<name>.address)")
    end
  end

  class EvaluationContext
    include PropertyLookup
    attr_reader :name, :index, :properties, :raw_properties, :spec

    def initialize(spec)
      @name = spec['job']['name']
      @index = spec['index']
      @raw_properties = spec['properties']
      @properties = openstruct(@raw_properties)
      @links = spec['links']
      @spec = openstruct(spec)
    end

    def property_source
      @raw_properties
    end

    def get_binding
      binding
    end

    def link(name)
      link_spec = @links[name]
      raise UnknownLink, name if link_spec.nil? || !link_spec.key?('instances')

      Link.new(link_spec)
    end

    def if_link(name)
      link_spec = @links[name]
      return ActiveElseBlock.new(self) if link_spec.nil? || !link_spec.key?('instances')

      yield Link.new(link_spec)
      InactiveElseBlock.new
    end

    private

    def openstruct(object)
      case object
      when Hash then OpenStruct.new(object.transform_values { |value| openstruct(value) })
      when Array then object.map { |item| openstruct(item) }
      else object
      end
    end
  end

  module_function

  # The director's copy of each declared property: the manifest value, else the spec default
  # (nil when there is neither, so that `p` raises). Undeclared properties never reach templates.
  def job_properties(job_spec, manifest_properties)
    result = {}
    (job_spec['properties'] || {}).each do |name, definition|
      keys = name.split('.')
      value = keys.reduce(manifest_properties) { |ref, key| ref.is_a?(Hash) ? ref[key] : nil }
      value = definition['default'] if value.nil? && definition.is_a?(Hash)
      dst = keys[0..-2].reduce(result) { |ref, key| ref[key] ||= {} }
      dst[keys[-1]] = value
    end
    result
  end

  def check_links(job_spec, links)
    consumes = (job_spec['consumes'] || []).to_h { |link| [link['name'], link] }
    links.each_key do |name|
      raise "link '#{name}' is given but the job does not consume it (consumes: #{consumes.keys.join(', ')})" unless consumes.key?(name)
    end
    consumes.each do |name, link|
      next if link['optional'] || links.key?(name)

      raise "Failed to resolve link '#{name}' with type '#{link['type']}' from job '#{job_spec['name']}': not optional and not given"
    end
  end

  def instance_spec(job_spec, overrides, properties, links)
    {
      'deployment' => 'cf',
      'name' => job_spec['name'],
      'index' => 0,
      'id' => '0b8f8a3e-4c1d-4a5e-9f6b-2d3c4e5f6a7b',
      'az' => 'z1',
      'bootstrap' => true,
      'address' => '10.0.16.5',
      'ip' => '10.0.16.5',
      'networks' => { 'default' => { 'ip' => '10.0.16.5', 'default' => %w[dns gateway] } },
    }.merge(overrides).merge(
      'job' => { 'name' => job_spec['name'] },
      'properties' => properties,
      'links' => links,
    )
  end

  def render_template(job_dir, template, spec)
    path = File.join(job_dir, 'templates', template)
    erb = ERB.new(File.read(path), trim_mode: '-')
    erb.filename = template
    erb.result(EvaluationContext.new(spec).get_binding)
  rescue StandardError, ScriptError => e
    line_of = e.backtrace&.find { |frame| frame.start_with?("#{template}:") }
    line = line_of ? line_of.split(':')[1] : 'unknown'
    raise "Error filling in template '#{template}' (line #{line}: #{e.message})"
  end

  def run(context_path)
    context = JSON.parse(File.read(context_path))
    job_dir = context.fetch('job_dir')
    job_spec = YAML.safe_load(File.read(File.join(job_dir, 'spec')))
    links = context['links'] || {}
    check_links(job_spec, links)
    properties = job_properties(job_spec, context['properties'] || {})
    spec = instance_spec(job_spec, context['spec'] || {}, properties, links)
    destinations = job_spec.fetch('templates')
    names = context['templates'] || destinations.keys

    files = {}
    errors = []
    names.each do |template|
      destination = destinations[template] or raise "template #{template} is not in the job spec's templates"
      files[destination] = render_template(job_dir, template, spec)
    rescue StandardError => e
      errors << e.message
    end
    unless errors.empty?
      warn "Unable to render templates for job '#{job_spec['name']}'. Errors are:\n#{errors.map { |error| "  - #{error}" }.join("\n")}"
      exit 1
    end

    if (output_dir = context['output_dir'])
      files.each do |destination, content|
        target = File.join(output_dir, destination)
        FileUtils.mkdir_p(File.dirname(target))
        File.write(target, content)
        File.chmod(destination.start_with?('bin/') ? 0o755 : 0o644, target)
      end
      monit = File.join(job_dir, 'monit')
      FileUtils.cp(monit, File.join(output_dir, 'monit')) if File.exist?(monit)
    end
    puts JSON.generate('files' => files)
  end
end

if $PROGRAM_NAME == __FILE__
  begin
    RenderHarness.run(ARGV.fetch(0))
  rescue StandardError => e
    warn e.message
    exit 1
  end
end
