#!/usr/bin/env bash
# Options are owned by their components (docs/architecture.md): below launch/ no string literal
# names a configuration key. A component names a refused option through config::OptionError,
# and the configuration's assembly (launch/) gives it its key. The keys are those of
# docs/configuration.md (generated from the options structs and checked by its own test).
# Usage: config_keys_test.sh SOURCE_ROOT. Prints every literal that names a key and exits 1.
set -euo pipefail
root="${1:?usage: config_keys_test.sh SOURCE_ROOT}"
cd "$root"

keys=$(grep -oE '^\| `[a-z0-9_.]+`' docs/configuration.md | tr -d '|` ' | grep -F '.' | sort -u)
if [[ $(wc -l <<<"$keys") -lt 100 ]]; then
  echo "config keys: found only $(wc -l <<<"$keys") keys in docs/configuration.md" >&2
  exit 1
fi

KEYS="$keys" perl -e '
  my %key = map { $_ => 1 } split /\n/, $ENV{KEYS};
  my $status = 0;
  for my $file (@ARGV) {
    open(my $in, "<", $file) or die "$file: $!";
    while (my $line = <$in>) {
      next if $line =~ m{^\s*//};
      # The string literals of the line (escaped quotes kept inside).
      while ($line =~ /"((?:[^"\\]|\\.)*)"/g) {
        my $literal = $1;
        while ($literal =~ /(?<![\w.])([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)/g) {
          if ($key{$1}) {
            print "$file:$.: names the config key $1: \"$literal\"\n";
            $status = 1;
          }
        }
      }
    }
  }
  exit $status;
' $(find core data distributed teacher \( -name '*.h' -o -name '*.cpp' \) | sort) && \
  echo "config keys: no string literal below launch/ names a configuration key"
