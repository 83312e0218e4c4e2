//! `up [SERVICES...]` (also `--start`): start the stack in this terminal, or with `-d` in the
//! background, returning once it is healthy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use supervisor::Event;

use crate::args::UpArgs;
use crate::commands::Context;
use crate::control::client::{Client, Stream};
use crate::control::daemon;
use crate::control::paths::StatePaths;
use crate::control::protocol::{Request, StreamItem, SupervisorInfo, WireEvent};
use crate::exit::{self, CliError, CliResult};
use crate::output::Style;
use crate::stack::progress::{Kind, Progress};
use crate::stack::signals::{self, SIGINT, SIGTERM};
use crate::stack::{self, Mode};

pub fn run(ctx: &Context<'_>, args: &UpArgs) -> CliResult {
    let prepared = stack::prepare(ctx, &args.services, args.yes, None)?;
    if !args.detach {
        return stack::run(ctx, prepared, Mode::Foreground);
    }
    let mut child = daemon::spawn(ctx, &prepared)?;
    let paths = prepared.paths.clone();
    let metas = prepared.built.metas.clone();
    // The daemon holds the lock now (the same open file): ours can go.
    drop(prepared);
    let client = match daemon::connect(&paths, &mut child) {
        Ok(client) => client,
        Err(e) => {
            // Never leave a half-started daemon behind.
            daemon::stop(&mut child);
            return Err(e);
        }
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let (paths, interrupted) = (paths.clone(), Arc::clone(&interrupted));
        signals::watch(&[SIGINT, SIGTERM], move |_| {
            if !interrupted.swap(true, Ordering::SeqCst) {
                request_shutdown(&paths);
            }
        })?;
    }
    let (info, mut stream) = client.stream::<SupervisorInfo>(&Request::Events {
        replay: true,
        services: Vec::new(),
    })?;
    let mut progress = Progress::new(&metas, ctx.out.painter);
    let followed = follow(ctx, &mut stream, &mut progress, true)?;
    if interrupted.load(Ordering::SeqCst) {
        follow(ctx, &mut stream, &mut progress, false)?;
        daemon::wait_exit(&mut child, Duration::from_secs(30));
        return Err(CliError::new(
            exit::INTERRUPTED,
            "interrupted: the stack was stopped",
        ));
    }
    match followed.failure {
        None if followed.ready => {
            if !ctx.out.json {
                ctx.out.line(ctx.out.paint(
                    Style::Dim,
                    format!(
                        "running in the background (supervisor pid {}); logs in {}; \
                         portwarden status | logs -f | stop",
                        info.pid,
                        paths.logs.display()
                    ),
                ))?;
            }
            Ok(())
        }
        failure => {
            // The daemon stops the stack by itself after a failed start: wait for it, so
            // that nothing is left running when we return.
            follow(ctx, &mut stream, &mut progress, false)?;
            daemon::wait_exit(&mut child, Duration::from_secs(60));
            Err(CliError::failure(format!(
                "the stack did not start: {}; everything was stopped",
                failure.unwrap_or_else(|| "the supervisor stopped".into())
            )))
        }
    }
}

/// Asks the supervisor of `paths` to stop the stack (best effort, for Ctrl-C).
pub(super) fn request_shutdown(paths: &StatePaths) {
    if let Ok(Some(client)) = Client::connect(paths) {
        let _ = client.stream::<SupervisorInfo>(&Request::Shutdown);
    }
}

/// What following a stream saw.
#[derive(Debug, Default)]
pub(super) struct Followed {
    /// `stack_ready` came.
    pub ready: bool,
    /// `stack_failed` came, with the reason.
    pub failure: Option<String>,
}

/// Prints a stream's events (as lines for people, or JSON lines) until the stack is ready or
/// has failed (`until_ready`), or until the stream ends.
pub(super) fn follow(
    ctx: &Context<'_>,
    stream: &mut Stream,
    progress: &mut Progress,
    until_ready: bool,
) -> CliResult<Followed> {
    let mut followed = Followed::default();
    while let Some(item) = stream.next_item()? {
        let event = match item {
            StreamItem::Event(event) => event,
            StreamItem::Log(_) => continue,
            StreamItem::End(_) => break,
        };
        match &event {
            WireEvent::Supervisor(Event::StackReady { .. }) => followed.ready = true,
            WireEvent::Supervisor(Event::StackFailed { reason }) => {
                followed.failure.get_or_insert_with(|| reason.clone());
                progress.set_stopping();
            }
            WireEvent::Supervisor(Event::Stopping { .. }) => progress.set_stopping(),
            _ => {}
        }
        if ctx.out.json {
            ctx.out.json_line(&event)?;
        } else if let Some(line) = progress.render(&event)
            && (line.kind != Kind::Output || until_ready)
        {
            ctx.out.line(line.text)?;
        }
        let done = followed.ready || followed.failure.is_some();
        if until_ready && done {
            break;
        }
    }
    Ok(followed)
}
