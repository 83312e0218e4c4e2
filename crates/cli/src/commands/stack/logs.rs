//! `logs [SERVICE] [-f] [--tail N]`: service output from `.portwarden/logs`. Followed through
//! the running supervisor (new lines as they are written, until it stops), or, when none
//! runs, by polling the files.

use std::time::Duration;

use crate::args::LogsArgs;
use crate::commands::Context;
use crate::control::client::Client;
use crate::control::logfiles::{Follower, logged_services, tail_lines};
use crate::control::paths::StatePaths;
use crate::control::protocol::{LogLine, Request, StreamItem, SupervisorInfo};
use crate::exit::{self, CliError, CliResult};
use crate::output::Style;

/// How often followed files are looked at when no supervisor runs.
const POLL: Duration = Duration::from_millis(200);

pub fn run(ctx: &Context<'_>, args: &LogsArgs) -> CliResult {
    let paths = StatePaths::locate(ctx.global)?;
    let services = match &args.service {
        Some(name) => {
            if !paths.log_file(name).exists() {
                return Err(CliError::new(
                    exit::NOT_FOUND,
                    format!("no log for service `{name}` in {}", paths.logs.display()),
                ));
            }
            vec![name.clone()]
        }
        None => logged_services(&paths),
    };
    let printer = Printer::new(ctx, &services, args.service.is_none());
    let tail = args
        .tail
        .unwrap_or(if args.follow { 10 } else { usize::MAX });
    if args.follow
        && let Some(client) = Client::connect(&paths)?
    {
        let (_info, mut stream) = client.stream::<SupervisorInfo>(&Request::Logs {
            services: services.clone(),
            tail: Some(tail),
            follow: true,
        })?;
        while let Some(item) = stream.next_item()? {
            match item {
                StreamItem::Log(line) => printer.print(&line)?,
                StreamItem::End(_) => break,
                StreamItem::Event(_) => {}
            }
        }
        return Ok(());
    }
    for service in &services {
        for line in tail_lines(&paths.log_file(service), tail)? {
            printer.print(&LogLine {
                service: service.clone(),
                line,
            })?;
        }
    }
    if !args.follow {
        return Ok(());
    }
    let mut follower = Follower::new(&paths, &services);
    loop {
        for line in follower.poll() {
            printer.print(&line)?;
        }
        std::thread::sleep(POLL);
    }
}

/// Prints lines, with a coloured `name |` prefix when several services are shown.
struct Printer<'a> {
    ctx: &'a Context<'a>,
    width: usize,
    services: Vec<String>,
    prefix: bool,
}

impl<'a> Printer<'a> {
    fn new(ctx: &'a Context<'a>, services: &[String], prefix: bool) -> Printer<'a> {
        Printer {
            ctx,
            width: services.iter().map(String::len).max().unwrap_or(0),
            services: services.to_vec(),
            prefix,
        }
    }

    fn print(&self, line: &LogLine) -> CliResult {
        let out = &self.ctx.out;
        if out.json {
            return out.json_line(line);
        }
        if !self.prefix {
            return out.line(&line.line);
        }
        let index = self
            .services
            .iter()
            .position(|s| s == &line.service)
            .unwrap_or(0);
        let style = Style::ROTATION[index % Style::ROTATION.len()];
        out.line(format!(
            "{} {} {}",
            out.paint(style, format!("{:<w$}", line.service, w = self.width)),
            out.paint(style, "|"),
            line.line
        ))
    }
}
