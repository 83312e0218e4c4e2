//! `portwarden export-config FILE`: the effective config, defaults filled in.

use super::Context;
use crate::args::ExportArgs;
use crate::config;
use crate::exit::{self, CliError, CliResult};

pub fn run(ctx: &Context<'_>, args: &ExportArgs) -> CliResult {
    let loaded = ctx.require_config()?;
    if args.file.as_os_str() == "-" {
        let text = loaded
            .config
            .to_yaml()
            .map_err(|e| CliError::new(exit::CONFIG, e))?;
        return ctx.out.write(&text);
    }
    config::export(&loaded.config, &args.file).map_err(|e| CliError::new(exit::FAILURE, e))?;
    if ctx.out.json {
        ctx.out.json_document(&serde_json::json!({
            "schema": "portwarden.export/1",
            "source": loaded.path,
            "written": args.file,
        }))
    } else {
        ctx.out.line(format!(
            "wrote the effective config of {} to {}",
            loaded.path.display(),
            args.file.display()
        ))
    }
}
