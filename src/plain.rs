//! Plain text for people, used at every level: untrusted text shortened
//! for a message, counts with their nouns, and durations in words.

use std::time::Duration;

/// At most `max` characters of user-supplied text, for chat.
pub fn shorten(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        // Line and paragraph separators too: a name must not start a line.
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .take(max)
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// "1 room", "3 rooms": a count with its noun in the right number.
pub fn count<N>(n: N, one: &str, many: &str) -> String
where
    N: Copy + PartialEq + From<u8> + std::fmt::Display,
{
    format!("{n} {}", if n == N::from(1) { one } else { many })
}

/// "1 room", "3 rooms".
pub fn rooms<N>(n: N) -> String
where
    N: Copy + PartialEq + From<u8> + std::fmt::Display,
{
    count(n, "room", "rooms")
}

/// "4.2 s", "12 min", "3 h 5 min".
pub fn ago(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{:.1} s", d.as_secs_f64()),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_and_every_other_count_plural() {
        assert_eq!(rooms(1), "1 room");
        assert_eq!(rooms(0), "0 rooms");
        assert_eq!(rooms(2), "2 rooms");
        assert_eq!(count(-1i64, "day", "days"), "-1 days");
        assert_eq!(count(1i64, "day", "days"), "1 day");
    }

    #[test]
    fn names_are_shortened_and_durations_read() {
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("a\nb", 5), "a b");
        assert_eq!(ago(Duration::from_millis(4_200)), "4.2 s");
        assert_eq!(ago(Duration::from_secs(720)), "12 min");
        assert_eq!(ago(Duration::from_secs(11_100)), "3 h 5 min");
    }
}
