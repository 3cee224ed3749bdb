// The `vit` command-line tool: one file per subcommand (classify, run, info, bench, convert, train),
// each a thin caller of the library. Exit status: 0 success, 1 error (one line on stderr), 2 usage
// error (the command line itself is wrong).
#include "common.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>

namespace {

// "vit <command>", for the messages; set before the command runs (and before any thread starts).
std::string g_command = "vit";

// The first line of an error message, cut to a length a terminal shows: a message may echo what a
// user gave (a 100 KB --model-args), and every message is one line.
std::string one_line(const std::string& message) { return vit::cli::excerpt(message.substr(0, message.find('\n')), 1000); }

// An exception that escapes a thread (one of LibTorch's own background threads, say) ends the process
// through std::terminate: one line and exit status 1 instead of the runtime's "terminate called after
// throwing ..." and an abort.
[[noreturn]] void on_terminate() {
  std::string message = "the process was terminated without an exception";
  if (const auto error = std::current_exception()) {
    try {
      std::rethrow_exception(error);
    } catch (const c10::Error& e) {
      message = e.what_without_backtrace();
    } catch (const std::exception& e) {
      message = e.what();
    } catch (...) {
      message = "an exception of unknown type";
    }
  }
  const std::string line = g_command + ": error: " + one_line(message) + " (an exception no caller could catch)\n";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  std::_Exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  std::set_terminate(on_terminate);
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
    std::cerr << "vit: unknown command '" << vit::cli::excerpt(first) << "' (see 'vit --help')\n";
    return 2;
  }
  const auto command = [&] {
    const auto subcommands = app.get_subcommands();
    return subcommands.empty() ? std::string("vit") : "vit " + subcommands.front()->get_name();
  };
  if (!known.empty()) g_command = "vit " + first;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << command() << ": " << one_line(e.what()) << " (see '" << command() << " --help')\n";
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << command() << ": error: " << one_line(e.what_without_backtrace()) << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << command() << ": error: " << one_line(e.what()) << "\n";
    return 1;
  }
  return 0;
}
