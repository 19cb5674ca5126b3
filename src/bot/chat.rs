//! Sending to the admin room: messages with a plain and an HTML body (room
//! names escaped, no mentions), edits that may be dropped, and files.

use matrix_sdk::attachment::AttachmentConfig;
use matrix_sdk::config::RequestConfig;
use matrix_sdk::room::Room;
use matrix_sdk::ruma::OwnedEventId;
use matrix_sdk::ruma::events::Mentions;
use matrix_sdk::ruma::events::room::message::{ReplacementMetadata, RoomMessageEventContent};

/// A message in both forms Matrix clients show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text {
    pub plain: String,
    pub html: String,
}

impl Text {
    /// Text without markup; escaped for the HTML body.
    pub fn plain(text: &str) -> Self {
        Self {
            plain: text.to_owned(),
            html: escape_html(text).replace('\n', "<br>"),
        }
    }

    /// A preformatted block, for clap's help and errors.
    pub fn code(text: &str) -> Self {
        Self {
            plain: text.to_owned(),
            html: format!("<pre><code>{}</code></pre>", escape_html(text)),
        }
    }

    /// Appends a line; `html` is trusted markup, `plain` its plain form.
    pub fn line(&mut self, plain: &str, html: &str) {
        if !self.plain.is_empty() {
            self.plain.push('\n');
            self.html.push_str("<br>");
        }
        self.plain.push_str(plain);
        self.html.push_str(html);
    }

    fn content(&self) -> RoomMessageEventContent {
        // An empty `m.mentions`: a room name like "@room" never pings anyone.
        RoomMessageEventContent::notice_html(self.plain.clone(), self.html.clone())
            .add_mentions(Mentions::new())
    }
}

/// Escapes text for an HTML body.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters of user-supplied text, for chat.
pub fn shorten(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// Sends a notice; the SDK retries after 429s as Synapse asks.
pub async fn send(room: &Room, text: &Text) -> matrix_sdk::Result<OwnedEventId> {
    Ok(room.send(text.content()).await?.response.event_id)
}

/// Replaces the text of an earlier message. One attempt only: a progress
/// edit refused (say, for the rate limit) is skipped, not retried.
pub async fn edit(room: &Room, event_id: &OwnedEventId, text: &Text) -> matrix_sdk::Result<()> {
    let content = text
        .content()
        .make_replacement(ReplacementMetadata::new(event_id.clone(), None));
    room.send(content)
        .with_request_config(RequestConfig::new().disable_retry())
        .await?;
    Ok(())
}

/// Uploads a file as an attachment; encrypted in an encrypted room.
pub async fn send_file(
    room: &Room,
    name: &str,
    mime: &mime::Mime,
    data: Vec<u8>,
) -> matrix_sdk::Result<()> {
    room.send_attachment(name, mime, data, AttachmentConfig::new())
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_names_shortened() {
        let t = Text::plain("<b>x</b> & \"y\"\nz");
        assert_eq!(t.html, "&lt;b&gt;x&lt;/b&gt; &amp; &quot;y&quot;<br>z");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("a\nb", 5), "a b");
        let c = Text::code("<script>");
        assert_eq!(c.html, "<pre><code>&lt;script&gt;</code></pre>");
    }
}
