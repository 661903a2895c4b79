# Writes each ```cpp block of a Markdown file that defines main() to
# OUT_DIR/PREFIX_N.cpp (N = 1, 2, ...). Usage:
#   awk -v out_dir=D -v prefix=P [-v pending="data weights"] -f this.awk FILE
# A block whose fence follows a line `<!-- needs: NAME -->` with NAME in `pending` is left out:
# it documents an API that this tree does not have yet, and is checked once NAME leaves the list.
BEGIN { split(pending, names, " "); for (i in names) skip_needs[names[i]] = 1 }
/^```/ {
  if (inside) {
    if (is_cpp && !skipped && code ~ /int main\(/) {
      n++
      file = out_dir "/" prefix "_" n ".cpp"
      printf "%s", code > file
      close(file)
    }
    inside = 0
  } else {
    inside = 1
    is_cpp = ($0 ~ /^```cpp/)
    skipped = 0
    if (match(previous, /^<!-- needs: [a-z_]+ -->/)) {
      need = previous
      sub(/^<!-- needs: /, "", need)
      sub(/ -->.*$/, "", need)
      skipped = (need in skip_needs)
    }
    code = ""
  }
  previous = $0
  next
}
inside { code = code $0 "\n" }
{ previous = $0 }
