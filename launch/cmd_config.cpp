// `dgr config show|check|docs`: inspect the resolved configuration without running anything.
#include <iostream>

#include "launch/cli_common.h"

namespace dgr::cli {

void add_config_command(CLI::App& app, Command& selected) {
  CLI::App* config = app.add_subcommand("config", "Inspect configurations: show, check, docs");
  config->require_subcommand(1);

  auto inputs_show = std::make_shared<ConfigInputs>();
  auto training = std::make_shared<bool>(false);
  CLI::App* show = config->add_subcommand(
      "show", "Print the resolved configuration (defaults, extends, --set applied) and its hash");
  inputs_show->attach(show, {});
  show->add_flag("--training", *training,
                 "As `dgr train` resolves it: with the overrides of the stage it trains "
                 "(pipeline.stage1 or pipeline.distill, by train.stage) before the --set ones");
  show->callback([inputs_show, training, &selected] {
    selected.needs_mpi = false;
    selected.run = [inputs_show, training](distributed::MpiContext*) {
      ResolvedConfig resolved =
          *training ? inputs_show->resolve_training() : inputs_show->resolve();
      std::cout << "# config_hash: " << resolved.hash << "\n" << resolved.yaml;
      return 0;
    };
  });

  auto inputs_check = std::make_shared<ConfigInputs>();
  CLI::App* check = config->add_subcommand(
      "check", "Validate a config strictly (unknown keys, types) and print its hash");
  inputs_check->attach(check, {});
  check->callback([inputs_check, &selected] {
    selected.needs_mpi = false;
    selected.run = [inputs_check](distributed::MpiContext*) {
      ResolvedConfig resolved = inputs_check->resolve();
      std::cout << (resolved.source.empty() ? "(defaults)" : resolved.source)
                << ": ok, config_hash " << resolved.hash << "\n";
      return 0;
    };
  });

  CLI::App* docs = config->add_subcommand(
      "docs", "Print the configuration reference (every key, type, default, meaning) in Markdown");
  docs->callback([&selected] {
    selected.needs_mpi = false;
    selected.run = [](distributed::MpiContext*) {
      std::cout << configuration_reference();
      return 0;
    };
  });
}

}  // namespace dgr::cli
