#!/usr/bin/env bash
# The layering of the source tree (docs/architecture.md): launch -> teacher -> distributed -> data
# -> core, each folder including only the folders below it, and MPI called only in distributed/.
# Usage: layering_test.sh SOURCE_ROOT. Prints every violation (file:line) and exits 1 on any.
set -euo pipefail
root="${1:?usage: layering_test.sh SOURCE_ROOT}"
cd "$root"
status=0

# forbid FOLDER PATTERN WHAT: lines of FOLDER's sources that match the extended regex PATTERN.
forbid() {
  local folder="$1" pattern="$2" what="$3" hits
  hits=$(grep -rnE --include='*.h' --include='*.cpp' "$pattern" "$folder" || true)
  if [[ -n "$hits" ]]; then
    echo "layering: $folder/ $what:"
    echo "$hits" | sed 's/^/  /'
    status=1
  fi
}

for folder in core data teacher launch; do
  forbid "$folder" '#include[[:space:]]*[<"]mpi\.h[">]' "includes mpi.h (MPI belongs to distributed/)"
  forbid "$folder" '\bMPI_[A-Za-z_]+[[:space:]]*\(' "calls MPI directly (use distributed/)"
done
forbid core '#include[[:space:]]*"(data|distributed|teacher|launch)/' "includes a folder above it"
forbid data '#include[[:space:]]*"(distributed|teacher|launch)/' "includes a folder above it"
forbid distributed '#include[[:space:]]*"(teacher|launch)/' "includes a folder above it"
forbid teacher '#include[[:space:]]*"launch/' "includes a folder above it"

[[ $status -eq 0 ]] && echo "layering: launch -> teacher -> distributed -> data -> core holds; MPI only in distributed/"
exit $status
