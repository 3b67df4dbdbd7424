//! `--image LAYOUT[:TAG]` and the tag grammar umoci enforces.

use std::path::PathBuf;

use super::LayoutError;

/// The tag used when `--image` names none.
pub const DEFAULT_TAG: &str = "latest";

/// A parsed `--image` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The layout directory.
    pub layout: PathBuf,
    /// The tag.
    pub tag: String,
}

impl ImageRef {
    /// Split at the first `:` (a layout path cannot hold one; a tag can).
    pub fn parse(text: &str) -> Result<Self, LayoutError> {
        let (layout, tag) = match text.split_once(':') {
            Some((layout, tag)) => (layout, tag),
            None => (text, DEFAULT_TAG),
        };
        if layout.is_empty() {
            return Err(LayoutError::Reference(format!(
                "--image {text:?}: the layout path is empty"
            )));
        }
        if tag.is_empty() {
            return Err(LayoutError::Reference(format!(
                "--image {text:?}: the tag is empty"
            )));
        }
        check_tag(tag)?;
        Ok(ImageRef {
            layout: PathBuf::from(layout),
            tag: tag.to_owned(),
        })
    }
}

/// Check `tag` against the grammar: `/`-separated components, each alphanumeric runs
/// joined by one of `-` `.` `_` `:` `@` `+` or by `--`.
pub fn check_tag(tag: &str) -> Result<(), LayoutError> {
    let ok = !tag.is_empty() && tag.split('/').all(component_ok);
    if ok {
        Ok(())
    } else {
        Err(LayoutError::Reference(format!(
            "tag {tag:?} is not valid: use letters and digits, joined by one of - . _ : @ + or --, with / between components"
        )))
    }
}

fn component_ok(component: &str) -> bool {
    let bytes = component.as_bytes();
    let mut i = 0;
    let alnum = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && bytes[*i].is_ascii_alphanumeric() {
            *i += 1;
        }
        *i > start
    };
    if !alnum(&mut i) {
        return false;
    }
    while i < bytes.len() {
        if bytes[i..].starts_with(b"--") {
            i += 2;
        } else if b"-._:@+".contains(&bytes[i]) {
            i += 1;
        } else {
            return false;
        }
        if !alnum(&mut i) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_grammar() {
        for good in ["latest", "a/b:c@d+e--f", "v1.0", "A9", "x_y"] {
            assert!(check_tag(good).is_ok(), "{good}");
        }
        for bad in [".AZ94n18s", "a__b", "-x", "", "a/", "a---b", "x y", "a//b"] {
            assert!(check_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn image_splits_at_the_first_colon() {
        let r = ImageRef::parse("dir:a:b").unwrap();
        assert_eq!((r.layout, r.tag.as_str()), (PathBuf::from("dir"), "a:b"));
        assert_eq!(ImageRef::parse("dir").unwrap().tag, "latest");
        assert!(ImageRef::parse(":tag").is_err());
        assert!(ImageRef::parse("path:").is_err());
        assert!(ImageRef::parse("path:.AZ94n18s").is_err());
    }
}
