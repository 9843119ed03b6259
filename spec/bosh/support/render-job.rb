# frozen_string_literal: true

# Renders a BOSH job's templates with bosh-template's own engine, `Bosh::Common::Template::Test`
# (../shared/tools/bosh-template, what release authors test templates with: the job spec's property
# defaults, `p`, `if_p`, `link`, `if_link`, `spec`), adding only what the director does around it:
# a consumed link that is neither optional nor given fails the deploy, and template errors are
# reported the director's way. Used by spec/bosh/support/render-job.ts.
#
#   ruby -I ../shared/tools/bosh-template/lib spec/bosh/support/render-job.rb
#
# It reads one CONTEXT at a time, a JSON line, from stdin and answers each with one JSON line,
# { "files": { destination => content } } or { "error": the director's "Unable to render templates
# for job ..." message }, until stdin closes: one Ruby process (and one load of the engine) for all
# of a test file's renders instead of one per render. Each render starts from its CONTEXT alone:
# the templates are read and evaluated afresh, as the director does per deploy.
#
# CONTEXT:
#   job_dir     the job (its `spec` and `templates/`), inside a release's jobs/ directory
#   templates   template names to render (default: all of the spec's `templates`)
#   output_dir  optional: write each rendered file at its destination (bin/* executable) and the
#               monit file, as the agent lays out /var/vcap/jobs/<job>
#   properties  the job's properties as a manifest gives them (nested hashes)
#   links       consumed links: { name => { instances: [...], properties: {...}, address: "..." } }
#   spec        instance spec: address, az, bootstrap, deployment, id, index, ip, name, networks

require 'fileutils'
require 'json'
require 'yaml'
require 'bosh/common/template/test'

module RenderJob
  include Bosh::Common::Template::Test

  # An instance of the droplet-registry instance group in a cf deployment (the engine's own
  # defaults describe no deployment in particular).
  INSTANCE = {
    address: '10.0.16.5',
    az: 'z1',
    bootstrap: true,
    deployment: 'cf',
    id: '0b8f8a3e-4c1d-4a5e-9f6b-2d3c4e5f6a7b',
    index: 0,
    ip: '10.0.16.5',
    name: 'droplet-registry',
    networks: { 'default' => { 'ip' => '10.0.16.5', 'default' => %w[dns gateway] } },
  }.freeze

  module_function

  def instance_spec(overrides)
    unknown = overrides.keys - INSTANCE.keys.map(&:to_s)
    raise "unknown instance spec keys #{unknown.join(', ')} (known: #{INSTANCE.keys.join(', ')})" unless unknown.empty?

    InstanceSpec.new(**INSTANCE.merge(overrides.transform_keys(&:to_sym)))
  end

  # The director resolves links before rendering: a consumed link neither optional nor provided
  # fails the deploy (the engine, given none, would render as if it were optional).
  def consumed_links(job_spec, links)
    consumes = (job_spec['consumes'] || []).to_h { |link| [link['name'], link] }
    consumes.each do |name, link|
      next if link['optional'] || links.key?(name)

      raise "Failed to resolve link '#{name}' with type '#{link['type']}' from job '#{job_spec['name']}': not optional and not given"
    end
    links.map do |name, link|
      instances = (link['instances'] || []).map do |instance|
        LinkInstance.new(**instance.slice('name', 'id', 'index', 'az', 'address', 'bootstrap').transform_keys(&:to_sym))
      end
      Link.new(name: name, instances: instances, properties: link['properties'] || {}, address: link['address'])
    end
  end

  def render_template(job, template, destination, properties, spec, links)
    job.template(destination).render(properties, spec: spec, consumes: links)
  rescue StandardError, ScriptError => e
    frame = e.backtrace&.find { |line| line.start_with?('(erb):') }
    raise "Error filling in template '#{template}' (line #{frame ? frame.split(':')[1] : 'unknown'}: #{e.message})"
  end

  # The director's message for a job whose templates failed.
  class RenderFailure < StandardError; end

  def render(context)
    job_dir = File.expand_path(context.fetch('job_dir'))
    job_spec = YAML.safe_load(File.read(File.join(job_dir, 'spec')))
    job = ReleaseDir.new(File.dirname(File.dirname(job_dir))).job(File.basename(job_dir))
    links = consumed_links(job_spec, context['links'] || {})
    spec = instance_spec(context['spec'] || {})
    destinations = job_spec.fetch('templates')
    names = context['templates'] || destinations.keys

    files = {}
    errors = []
    names.each do |template|
      destination = destinations[template] or raise "template #{template} is not in the job spec's templates"
      files[destination] = render_template(job, template, destination, context['properties'] || {}, spec, links)
    rescue StandardError => e
      errors << e.message
    end
    unless errors.empty?
      raise RenderFailure, "Unable to render templates for job '#{job_spec['name']}'. Errors are:\n#{errors.map { |error| "  - #{error}" }.join("\n")}"
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
    files
  end

  def serve(input, output)
    output.sync = true
    input.each_line do |line|
      answer = begin
        { 'files' => render(JSON.parse(line)) }
      rescue StandardError, ScriptError => e
        { 'error' => e.message }
      end
      output.puts(JSON.generate(answer))
    end
  end
end

RenderJob.serve($stdin, $stdout) if $PROGRAM_NAME == __FILE__
