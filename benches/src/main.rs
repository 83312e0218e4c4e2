//! `pw-bench`: see `benches/README.md`, or `pw-bench --help`.

fn main() -> std::process::ExitCode {
    pwbench::main()
}
