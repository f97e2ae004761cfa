//! Static bearer tokens, from a file in Kubernetes' token file format: one CSV line per
//! token, `token,user,uid,"group1,group2"` (the groups column is optional).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use super::error::TokenFileError;
use crate::server::UserInfo;

/// Bearer tokens and the users they stand for.
#[derive(Clone, Default)]
pub struct TokenFile {
    tokens: HashMap<String, UserInfo>,
}

impl fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens are secrets: only their users are shown.
        let mut users: Vec<&str> = self.tokens.values().map(|u| u.name.as_str()).collect();
        users.sort_unstable();
        f.debug_struct("TokenFile").field("users", &users).finish()
    }
}

impl TokenFile {
    /// No tokens.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a token file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, TokenFileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses the contents of a token file. Blank lines are skipped; a token given twice
    /// keeps its last line, as Kubernetes does.
    pub fn parse(text: &str) -> Result<Self, TokenFileError> {
        let mut file = Self::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            if line.trim().is_empty() {
                continue;
            }
            let fields = parse_csv_line(line).ok_or(TokenFileError::Syntax { line: line_no })?;
            if fields.len() < 3 {
                return Err(TokenFileError::TooFewColumns { line: line_no });
            }
            let token = fields[0].trim();
            let name = fields[1].trim();
            if token.is_empty() {
                return Err(TokenFileError::Empty {
                    line: line_no,
                    column: "token",
                });
            }
            if name.is_empty() {
                return Err(TokenFileError::Empty {
                    line: line_no,
                    column: "user",
                });
            }
            let groups: Vec<String> = fields
                .get(3)
                .map(|g| {
                    g.split(',')
                        .map(str::trim)
                        .filter(|g| !g.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let mut user = UserInfo::new(name, groups);
            fields[2].trim().clone_into(&mut user.uid);
            file.tokens.insert(token.to_owned(), user);
        }
        Ok(file)
    }

    /// Adds a token for a user.
    #[must_use]
    pub fn with_token(mut self, token: &str, user: UserInfo) -> Self {
        self.tokens.insert(token.to_owned(), user);
        self
    }

    /// The user of a token.
    pub fn user(&self, token: &str) -> Option<&UserInfo> {
        self.tokens.get(token)
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// True when there is no token.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// Splits one CSV line (RFC 4180: fields may be quoted, `""` is a quote inside quotes).
fn parse_csv_line(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.trim().is_empty() && !was_quoted => {
                field.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                fields.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            (false, '"') => return None,
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kubernetes_format() {
        let file =
            TokenFile::parse("abc,alice,u1,\"dev,ops\"\n\ndef,bob,u2\nghi,carol,u3,admins\n")
                .unwrap();
        assert_eq!(file.len(), 3);
        let alice = file.user("abc").unwrap();
        assert_eq!(alice.name, "alice");
        assert_eq!(alice.uid, "u1");
        assert_eq!(alice.groups, ["dev", "ops", "system:authenticated"]);
        assert_eq!(file.user("def").unwrap().groups, ["system:authenticated"]);
        assert_eq!(file.user("ghi").unwrap().groups[0], "admins");
        assert!(file.user("nope").is_none());
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let err = TokenFile::parse("abc,alice,u1\nonly,two\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "token file line 2: at least 3 columns are required"
        );
        let err = TokenFile::parse("abc,alice,u1,\"dev\n").unwrap_err();
        assert!(matches!(err, TokenFileError::Syntax { line: 1 }));
        let err = TokenFile::parse(",alice,u1\n").unwrap_err();
        assert!(matches!(
            err,
            TokenFileError::Empty {
                column: "token",
                ..
            }
        ));
    }

    #[test]
    fn quotes_follow_rfc_4180() {
        assert_eq!(
            parse_csv_line(r#"a,"b,c","say ""hi""""#).unwrap(),
            ["a", "b,c", r#"say "hi""#]
        );
        assert!(parse_csv_line(r#"a,b"c"#).is_none());
    }

    #[test]
    fn debug_output_hides_tokens() {
        let file = TokenFile::parse("secret-token,alice,u1\n").unwrap();
        let shown = format!("{file:?}");
        assert!(!shown.contains("secret-token") && shown.contains("alice"));
    }
}
