//! `weightgen` binary: parse, run, print `weightgen: error: …` on one line, exit with a code.

mod cli;

use clap::Parser;
use std::process::ExitCode;

#[global_allocator]
static ALLOC: weightgen::exec::Allocator = weightgen::exec::Allocator;

fn main() -> ExitCode {
    // Never show a panic's multi-line report: one line, exit 1. (A panic is a bug; report it.)
    std::panic::set_hook(Box::new(|info| {
        let msg = info.payload_as_str().unwrap_or("unknown");
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "weightgen: error: internal error (please report): {}{at}",
            msg.replace('\n', " ")
        );
    }));
    // Ctrl-C: stop at the next chunk so the temp file is removed and the destination untouched.
    let cancel = weightgen::exec::Cancel::new();
    let on_signal = cancel.clone();
    let _ = ctrlc::set_handler(move || on_signal.cancel());
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(&e),
    };
    match std::panic::catch_unwind(|| cli.run(&cancel)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(err)) => report(err),
        Err(_) => ExitCode::from(1), // the hook above printed the one line
    }
}

/// A clap parse error on one line, exit 2; `--help` and `--version` print whole, exit 0.
fn clap_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if !e.use_stderr() || e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        let _ = e.print();
        return ExitCode::from(e.exit_code() as u8);
    }
    // clap's message spans several lines (what, which arguments, tips, usage); join the
    // lines before the usage into one.
    let text = e.render().to_string();
    let parts: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let msg = parts.join(" ");
    let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
    eprintln!("weightgen: error: {msg} (see weightgen --help)");
    ExitCode::from(2)
}

fn report(err: anyhow::Error) -> ExitCode {
    let code = err.downcast_ref().map_or(1, weightgen::Error::exit_code);
    let msg = format!("{err:#}").replace(['\n', '\r'], " ");
    eprintln!("weightgen: error: {msg}");
    ExitCode::from(code)
}
