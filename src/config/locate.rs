//! Where in the file a config error is: the line of the offending key, the
//! key's path (`chain[0].confirmations`), and for an unknown key the known
//! one it is nearest to.
//!
//! Errors are written as `PATH: what is wrong`; [`point`] adds the line
//! where PATH is written (`chain[0].confirmations (line 12): …`). The file
//! is read line by line, as a person reads it: a key's line is the line of
//! its `key =` inside its table, a table's is the line of its header.

use serde::de::DeserializeOwned;

/// One line of the file: its text without comments and, when it is a table
/// header, the table's dotted name.
struct Line<'a> {
    text: &'a str,
    header: Option<String>,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    text.lines()
        .map(|l| {
            let text = l.trim();
            let header = text
                .strip_prefix('[')
                .and_then(|rest| rest.split(']').next())
                .map(|name| name.trim_start_matches('[').replace([' ', '\t', '"'], ""));
            Line { text, header }
        })
        .collect()
}

/// Whether `line` assigns `key` (`key = …`, `"key" = …`, or `key.sub = …`).
fn assigns(line: &str, key: &str) -> bool {
    let rest = line
        .strip_prefix(key)
        .or_else(|| line.strip_prefix(&format!("\"{key}\"")));
    rest.is_some_and(|r| {
        let r = r.trim_start();
        r.starts_with('=') || r.starts_with('.')
    })
}

/// Whether an inline table on `line` names `key` (`{ key = …`, `, key = …`).
fn mentions(line: &str, key: &str) -> bool {
    line.match_indices(key).any(|(i, _)| {
        let before = line[..i].trim_end();
        let after = line[i + key.len()..].trim_start();
        (before.ends_with('{') || before.ends_with(',')) && after.starts_with('=')
    })
}

/// `chain[1].token[0].decimals` as (key, index) pairs.
fn segments(path: &str) -> Vec<(&str, Option<usize>)> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once('[') {
            Some((k, i)) => (k, i.trim_end_matches(']').parse().ok()),
            None => (s, None),
        })
        .collect()
}

/// The 1-based line where the key or table at `path` is written, or the
/// nearest enclosing table that is: `None` when not even the first part is.
pub(super) fn line_of_key(text: &str, path: &str) -> Option<usize> {
    let lines = lines(text);
    // The current table: its name, its header line (None for the root) and
    // the end of its lines, subtables included.
    let mut name = String::new();
    let mut start: Option<usize> = None;
    let mut end = lines.len();
    let mut found: Option<usize> = None;
    let segs = segments(path);
    for (n, (key, index)) in segs.iter().enumerate() {
        let full = if name.is_empty() {
            key.to_string()
        } else {
            format!("{name}.{key}")
        };
        let from = start.map_or(0, |s| s + 1);
        // A table of its own: the index-th header with that name.
        let headers: Vec<usize> = (from..end)
            .filter(|&i| lines[i].header.as_deref() == Some(full.as_str()))
            .collect();
        if let Some(&h) = headers.get(index.unwrap_or(0)) {
            let inside = |i: &usize| {
                lines[*i]
                    .header
                    .as_deref()
                    .is_some_and(|n| n.starts_with(&format!("{full}.")))
            };
            end = (h + 1..end)
                .find(|i| lines[*i].header.is_some() && !inside(i))
                .unwrap_or(end);
            start = Some(h);
            name = full;
            found = Some(h);
            continue;
        }
        // A key of the current table, before its first subtable.
        let body_end = (from..end)
            .find(|&i| lines[i].header.is_some())
            .unwrap_or(end);
        let Some(k) = (from..body_end).find(|&i| assigns(lines[i].text, key)) else {
            break;
        };
        found = Some(k);
        // What is left is inside an inline value: the first line from here
        // on that names the last key.
        if let Some((last, _)) = segs.get(n + 1..).and_then(|rest| rest.last()) {
            if let Some(i) = (k..end).find(|&i| mentions(lines[i].text, last)) {
                found = Some(i);
            }
        }
        break;
    }
    found.map(|i| i + 1)
}

/// Adds the line of the message's leading key path, when the file has it and
/// the message does not name a line yet: `api.listen: …` becomes
/// `api.listen (line 4): …`. A second path after the first (`sink[0]
/// \`shop\`: url: …`) is looked up inside the first.
pub(super) fn point(text: &str, message: String) -> String {
    let is_path = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.[]-".contains(c))
    };
    let Some((head, rest)) = message.split_once(": ") else {
        return message;
    };
    if head.contains("(line ") || head.starts_with("line ") {
        return message;
    }
    // `sink[0] \`shop\`` names a table and what it is called.
    let path = head.split(' ').next().unwrap_or(head);
    if !is_path(path) {
        return message;
    }
    let inner = rest.split_once(": ").map(|(k, _)| k).filter(|k| is_path(k));
    let line = inner
        .and_then(|k| line_of_key(text, &format!("{path}.{k}")))
        .or_else(|| line_of_key(text, path));
    match line {
        Some(line) => format!("{head} (line {line}): {rest}"),
        None => message,
    }
}

/// Deserializes a table taken out of the file (a `[[chain]]`, say), with
/// errors naming the key's path below `prefix`, and for an unknown key the
/// nearest known one.
pub(super) fn from_value<T: DeserializeOwned>(
    value: toml::Value,
    prefix: &str,
) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(
        |e: serde_path_to_error::Error<toml::de::Error>| {
            let message = e.inner().message().trim().to_string();
            // The path ends at the offending key (an unknown one included).
            let below = e.path().to_string();
            let path = match below.as_str() {
                "." => prefix.to_string(),
                below => format!("{prefix}.{below}"),
            };
            with_suggestion(format!("{path}: {message}"))
        },
    )
}

/// The key of serde's "unknown field `key`, expected …" message.
fn unknown_key(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field `")?.split('`').next()
}

/// Adds "did you mean `x`?" to an unknown-key message when one of the keys
/// it lists is near the unknown one (Levenshtein distance within a third of
/// its length, at least 1).
pub(super) fn with_suggestion(message: String) -> String {
    let Some(i) = message.find("unknown field `") else {
        return message;
    };
    let tail = &message[i..];
    let Some(key) = unknown_key(tail) else {
        return message;
    };
    let Some((_, expected)) = tail.split_once("expected ") else {
        return message;
    };
    let known = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|k| !k.is_empty());
    let limit = (key.chars().count() / 3).max(1);
    let best = known
        .map(|k| (strsim::levenshtein(key, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, k)) => format!("{message}; did you mean `{k}`?"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"data_dir = "/x"
[api]
listen = "127.0.0.1:1"

[[chain]]
name = "a"
kind = "bitcoin"

[[chain]]
name = "b"
# confirmations = 1
confirmations = "3"
tokens = [{ symbol = "USDT", decimals = "x" }]

[chain.invoices]
expiry = "1h"

[[chain.token]]
symbol = "A"

[[chain.token]]
symbol = "B"
decimals = 6

[[sink]]
name = "shop"
url = "x"
"#;

    #[test]
    fn keys_are_found_at_their_own_line() {
        assert_eq!(line_of_key(TEXT, "data_dir"), Some(1));
        assert_eq!(line_of_key(TEXT, "api.listen"), Some(3));
        assert_eq!(line_of_key(TEXT, "chain[0]"), Some(5));
        assert_eq!(line_of_key(TEXT, "chain[1].confirmations"), Some(12));
        assert_eq!(line_of_key(TEXT, "chain[1].tokens[0].decimals"), Some(13));
        assert_eq!(line_of_key(TEXT, "chain[1].invoices.expiry"), Some(16));
        assert_eq!(line_of_key(TEXT, "chain[1].token[1].decimals"), Some(23));
        assert_eq!(line_of_key(TEXT, "sink[0].url"), Some(27));
        // Not written: the nearest table that is.
        assert_eq!(line_of_key(TEXT, "chain[0].confirmations"), Some(5));
        assert_eq!(line_of_key(TEXT, "nothing"), None);
    }

    #[test]
    fn messages_get_the_line_of_their_key() {
        assert_eq!(
            point(TEXT, "api.listen: bad".into()),
            "api.listen (line 3): bad"
        );
        assert_eq!(
            point(TEXT, "sink[0] `shop`: url: `x` is not a URL".into()),
            "sink[0] `shop` (line 27): url: `x` is not a URL"
        );
        assert_eq!(
            point(TEXT, "line 4: already placed".into()),
            "line 4: already placed"
        );
        assert_eq!(point(TEXT, "no path here".into()), "no path here");
    }

    #[test]
    fn an_unknown_key_suggests_the_nearest_known_one() {
        let m = with_suggestion(
            "unknown field `rpc_ur`, expected one of `name`, `rpc_url`, `kind`".into(),
        );
        assert!(m.ends_with("did you mean `rpc_url`?"), "{m}");
        let m = with_suggestion("unknown field `zzz`, expected `name` or `kind`".into());
        assert!(!m.contains("did you mean"), "{m}");
    }
}
