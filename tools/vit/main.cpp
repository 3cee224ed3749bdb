// The `vit` command-line tool: one file per subcommand (classify, run, info, bench, convert, train),
// each a thin caller of the library. Exit status: 0 success, 1 error (one line on stderr), 2 usage
// error (the command line itself is wrong).
#include "common.h"

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app("vit: Vision Transformers from checkpoints, without Python (vitcpp " VITCPP_VERSION ")", "vit");
  app.set_version_flag("--version", std::string("vit ") + VITCPP_VERSION);
  app.require_subcommand(1);
  vit::cli::add_classify(app);
  vit::cli::add_run(app);
  vit::cli::add_embed(app);
  vit::cli::add_attention(app);
  vit::cli::add_info(app);
  vit::cli::add_bench(app);
  vit::cli::add_convert(app);
  vit::cli::add_train(app);
  vit::cli::add_evaluate(app);
  if (argc < 2) {
    std::cerr << "vit: missing command (see 'vit --help')\n";
    return 2;
  }
  const std::string first = argv[1];
  const auto known = app.get_subcommands([&](const CLI::App* sub) { return sub->get_name() == first; });
  if (first.rfind("-", 0) != 0 && known.empty()) {
    std::cerr << "vit: unknown command '" << first << "' (see 'vit --help')\n";
    return 2;
  }
  const auto command = [&] {
    const auto subcommands = app.get_subcommands();
    return subcommands.empty() ? std::string("vit") : "vit " + subcommands.front()->get_name();
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::string message = e.what();
    message = message.substr(0, message.find('\n'));
    std::cerr << command() << ": " << message << " (see '" << command() << " --help')\n";
    return 2;
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    std::cerr << command() << ": error: " << message.substr(0, message.find('\n')) << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << command() << ": error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
