//! Chat commands, parsed with clap: `!oldrooms scan --inactive-days 90`.
//! clap's own help and error texts become the bot's replies.

use clap::error::ErrorKind;
use clap::{Parser, Subcommand};

pub use crate::scan_args::ScanArgs;

/// Commands the bot answers in its admin room. Scanning deletes nothing.
/// Upload an edited results.csv here to be offered exactly its
/// should_delete=yes rows.
#[derive(Debug, Parser)]
#[command(
    disable_version_flag = true,
    arg_required_else_help = true,
    color = clap::ColorChoice::Never,
    help_template = "{about}\n\n{usage-heading} {usage}\n\n{all-args}"
)]
struct ChatLine {
    #[command(subcommand)]
    command: BotCommand,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum BotCommand {
    /// Scan every room, upload results.csv, offer to delete the candidates
    Scan(ScanArgs),
    /// What the bot is doing now, and a summary of the last scan
    Status,
    /// Stop the running scan or deletion, or withdraw the offer to delete
    Cancel,
    /// Re-check the standing offer's rooms now and report what a deletion
    /// would do; deletes nothing, and the offer still stands
    DryRun,
}

/// What a message asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Command(BotCommand),
    /// `help`, `--help` or the prefix alone: clap's help text.
    Help(String),
    /// A wrong command or argument: clap's error text.
    Error(String),
}

/// The longest command line we look at; the rest is ignored.
const MAX_LINE: usize = 1000;

/// Parses the first line of a message. `None` when it does not start with
/// `prefix` as a word of its own: then the message is not for the bot.
pub fn parse_line(prefix: &str, body: &str) -> Option<Parsed> {
    let line = body.lines().next()?.trim();
    let rest = line.strip_prefix(prefix)?;
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    let rest: String = rest.chars().take(MAX_LINE).collect();
    let argv = std::iter::once(prefix).chain(rest.split_whitespace());
    Some(match ChatLine::try_parse_from(argv) {
        Ok(line) => Parsed::Command(line.command),
        Err(e) => {
            let text = e.render().to_string().trim_end().to_owned();
            match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    Parsed::Help(text)
                }
                _ => Parsed::Error(text),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Option<Parsed> {
        parse_line("!oldrooms", body)
    }

    #[test]
    fn commands_and_overrides() {
        assert_eq!(
            parse("!oldrooms status"),
            Some(Parsed::Command(BotCommand::Status))
        );
        assert_eq!(
            parse("  !oldrooms   cancel  "),
            Some(Parsed::Command(BotCommand::Cancel))
        );
        assert_eq!(
            parse("!oldrooms scan --inactive-days 90 --include-spaces\nsecond line ignored"),
            Some(Parsed::Command(BotCommand::Scan(ScanArgs {
                inactive_days: Some(90),
                include_spaces: true,
                ..ScanArgs::default()
            })))
        );
    }

    #[test]
    fn other_messages_are_not_for_the_bot() {
        for body in [
            "hello",
            "!oldroomsscan",
            "please !oldrooms scan",
            "",
            "\n!oldrooms scan",
        ] {
            assert_eq!(parse(body), None, "{body:?}");
        }
    }

    #[test]
    fn help_lists_every_command() {
        for body in ["!oldrooms", "!oldrooms help", "!oldrooms --help"] {
            let Some(Parsed::Help(text)) = parse(body) else {
                panic!("{body}")
            };
            for word in [
                "scan",
                "status",
                "cancel",
                "Usage: !oldrooms",
                "Upload an edited",
            ] {
                assert!(text.contains(word), "{text}");
            }
        }
        let Some(Parsed::Help(text)) = parse("!oldrooms scan --help") else {
            panic!()
        };
        for option in [
            "--inactive-days <N>",
            "--keep-direct",
            "--ignore-member <REGEX>",
        ] {
            assert!(text.contains(option), "{text}");
        }
    }

    #[test]
    fn mistakes_get_clap_messages() {
        let Some(Parsed::Error(text)) = parse("!oldrooms delete-everything") else {
            panic!()
        };
        assert!(
            text.contains("unrecognized subcommand 'delete-everything'"),
            "{text}"
        );
        let Some(Parsed::Error(text)) = parse("!oldrooms scan --inactive-days 0") else {
            panic!()
        };
        assert!(text.contains("--inactive-days"), "{text}");
        let Some(Parsed::Error(text)) = parse("!oldrooms scan --inactive-days=lots") else {
            panic!()
        };
        assert!(text.contains("invalid value 'lots'"), "{text}");
        let long = format!("!oldrooms {}", "x".repeat(100_000));
        let Some(Parsed::Error(text)) = parse(&long) else {
            panic!()
        };
        assert!(text.len() < 2000);
        assert!(!text.contains('\u{1b}'), "no terminal colours in chat");
    }
}
