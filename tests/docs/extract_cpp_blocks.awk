# Writes each ```cpp block of a Markdown file that defines main() to
# OUT_DIR/PREFIX_N.cpp (N = 1, 2, ...). Usage: awk -v out_dir=D -v prefix=P -f this.awk FILE
/^```/ {
  if (inside) {
    if (is_cpp && code ~ /int main\(/) {
      n++
      file = out_dir "/" prefix "_" n ".cpp"
      printf "%s", code > file
      close(file)
    }
    inside = 0
  } else {
    inside = 1
    is_cpp = ($0 ~ /^```cpp/)
    code = ""
  }
  next
}
inside { code = code $0 "\n" }
