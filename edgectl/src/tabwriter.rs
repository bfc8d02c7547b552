//! Column alignment in the manner of Go's `text/tabwriter`, which kubectl uses for tables and `describe`.

/// Collects tab-separated lines and aligns each column within blocks of consecutive lines that
/// have that column, exactly as Go's tabwriter does (the last cell of a line is never padded).
#[derive(Debug, Default)]
pub struct TabWriter {
    min_width: usize,
    padding: usize,
    lines: Vec<Vec<String>>,
}

impl TabWriter {
    pub fn new(min_width: usize, padding: usize) -> TabWriter {
        TabWriter {
            min_width,
            padding,
            lines: Vec::new(),
        }
    }

    /// Adds a line of cells.
    pub fn row(&mut self, cells: Vec<String>) {
        self.lines.push(cells);
    }

    /// Adds text that may contain tabs and several lines.
    pub fn write(&mut self, text: &str) {
        for line in text.lines() {
            self.lines
                .push(line.split('\t').map(str::to_string).collect());
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut widths = Vec::new();
        self.format(&mut out, &mut widths, 0, self.lines.len());
        out
    }

    fn format(&self, out: &mut String, widths: &mut Vec<usize>, mut line0: usize, line1: usize) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= self.lines[this].len() {
                this += 1;
                continue;
            }
            // This line has a cell in `column`, so a block starts here.
            self.write_lines(out, widths, line0, this);
            line0 = this;
            let mut width = self.min_width;
            while this < line1 && column + 1 < self.lines[this].len() {
                width = width.max(self.lines[this][column].chars().count() + self.padding);
                this += 1;
            }
            widths.push(width);
            self.format(out, widths, line0, this);
            widths.pop();
            line0 = this;
        }
        self.write_lines(out, widths, line0, line1);
    }

    fn write_lines(&self, out: &mut String, widths: &[usize], line0: usize, line1: usize) {
        for line in &self.lines[line0..line1] {
            for (j, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if j + 1 < line.len() {
                    let width = widths.get(j).copied().unwrap_or(0);
                    let pad = width.saturating_sub(cell.chars().count());
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_align_separately() {
        let mut w = TabWriter::new(0, 2);
        w.write("Name:\tweb\nNamespace:\tdefault\nIPs:\n  IP:\t10.0.0.1\nControlled By:\tReplicaSet/web\n");
        assert_eq!(
            w.render(),
            "Name:       web\nNamespace:  default\nIPs:\n  IP:           10.0.0.1\nControlled By:  ReplicaSet/web\n"
        );
    }

    #[test]
    fn tables_pad_to_min_width() {
        let mut w = TabWriter::new(6, 3);
        w.row(vec!["NAME".into(), "AGE".into()]);
        w.row(vec!["a".into(), "1m".into()]);
        assert_eq!(w.render(), "NAME   AGE\na      1m\n");
    }
}
