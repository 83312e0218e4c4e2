//! `portwarden report`.

use super::Context;
use crate::args::ReportArgs;
use crate::exit::CliResult;

pub fn run(_ctx: &Context<'_>, _args: &ReportArgs) -> CliResult {
    Ok(())
}
