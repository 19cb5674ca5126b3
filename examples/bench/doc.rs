//! BENCHMARKS.md part by part: a run replaces the parts it ran and keeps
//! everything else, the other parts and the notes written by hand.
//! A part sits between `<!-- bench part NAME -->` and `<!-- end of bench
//! part NAME -->`; a part run for the first time goes after the last part.

fn begin(name: &str) -> String {
    format!("<!-- bench part {name} -->\n")
}

fn end(name: &str) -> String {
    format!("<!-- end of bench part {name} -->\n")
}

/// The new text of BENCHMARKS.md: `header` (up to the first section)
/// replaced, each of `parts` (name, text) put in its place.
pub fn merge(old: &str, header: &str, parts: &[(&str, String)]) -> String {
    let body_at = old
        .find("\n## ")
        .map(|i| i + 1)
        .into_iter()
        .chain(old.find("<!-- bench part "))
        .min()
        .unwrap_or(old.len());
    let mut body = old[body_at..].to_owned();
    for (name, text) in parts {
        let block = format!(
            "{}{}{}",
            begin(name),
            text.trim_end_matches('\n').to_owned() + "\n",
            end(name)
        );
        let (b, e) = (begin(name), end(name));
        match (body.find(&b), body.find(&e)) {
            (Some(start), Some(stop)) if stop > start => {
                body.replace_range(start..stop + e.len(), &block);
            }
            _ => {
                let last = body
                    .rfind("<!-- end of bench part ")
                    .map(|i| i + body[i..].find('\n').map_or(body.len() - i, |n| n + 1));
                let at = last.unwrap_or(0);
                let sep = if at == 0 || body[..at].ends_with("\n\n") {
                    ""
                } else {
                    "\n"
                };
                body.insert_str(at, &format!("{sep}{block}\n"));
            }
        }
    }
    format!("{}\n\n{body}", header.trim_end_matches('\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_replaces_its_own_block_and_keeps_the_rest() {
        let old = "# Benchmarks\n\n- machine: old\n\n\
                   <!-- bench part real -->\n## Real\nold real\n<!-- end of bench part real -->\n\n\
                   <!-- bench part million -->\n## Million\nold million\n<!-- end of bench part million -->\n\n\
                   ## Reading these figures\nby hand\n";
        let new = merge(
            old,
            "# Benchmarks\n\n- machine: new\n",
            &[("million", "## Million\nnew million\n".into())],
        );
        assert!(
            new.starts_with("# Benchmarks\n\n- machine: new\n\n<!-- bench part real -->"),
            "{new}"
        );
        assert!(new.contains("old real"), "{new}");
        assert!(new.contains("new million"), "{new}");
        assert!(!new.contains("old million"), "{new}");
        assert!(new.contains("## Reading these figures\nby hand\n"), "{new}");
        // A part seen for the first time goes after the last part.
        let added = merge(
            &new,
            "# Benchmarks\n",
            &[("delete", "## Delete\nd\n".into())],
        );
        let at = |s: &str| added.find(s).unwrap();
        assert!(at("<!-- end of bench part million -->") < at("<!-- bench part delete -->"));
        assert!(at("<!-- end of bench part delete -->") < at("## Reading these figures"));
        // A file without any part yet.
        let first = merge("", "# Benchmarks\n", &[("fake", "## Fake\nf\n".into())]);
        assert_eq!(
            first,
            "# Benchmarks\n\n<!-- bench part fake -->\n## Fake\nf\n<!-- end of bench part fake -->\n\n"
        );
    }
}
