#!/usr/bin/env bash
# Fills fuzz/corpus/<target>/ with seeds built from the captures and fixtures already in the
# repository. The corpus directories are generated (see .gitignore); rerunning this script adds
# the seeds again (same names) without removing what the fuzzer has found since.
#
#   client_frames  client-to-server bytes of each captured connection, in order (one seed per
#                  connection), and each single frame (after its connection's handshake frame,
#                  since the codec reads the first frame as the handshake); a few four-letter words
#   server_frames  the same for server-to-client bytes, each seed preceded by the selector byte
#                  that picks the opcode whose reply bodies are decoded (the low byte of the
#                  opcode's code, see fuzz_targets/server_frames.rs)
#   txn_log        log.* from the Java 3.8.0 data dir and tests/data/storage
#   snapshot       snapshot.* (uncompressed) from the same places
#   quorum         tests/data/quorum/*.bin (quorum-port and election-port captures)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data="$here/../zk-proto/tests/data"
corpus="$here/corpus"

for target in client_frames server_frames txn_log snapshot quorum; do
    mkdir -p "$corpus/$target"
done

# The wire code of a request name as used in the capture file names (getData, createTTL, ...),
# as one byte: the selector of the server_frames target.
op_code() {
    case "$1" in
        create) echo 1 ;; delete) echo 2 ;; exists) echo 3 ;; getData) echo 4 ;;
        setData) echo 5 ;; getACL) echo 6 ;; setACL) echo 7 ;; getChildren) echo 8 ;;
        sync) echo 9 ;; ping) echo 11 ;; getChildren2) echo 12 ;; check) echo 13 ;;
        multi) echo 14 ;; create2) echo 15 ;; reconfig) echo 16 ;; checkWatches) echo 17 ;;
        removeWatches) echo 18 ;; createContainer) echo 19 ;; deleteContainer) echo 20 ;;
        createTTL) echo 21 ;; multiRead) echo 22 ;; auth) echo 100 ;; setWatches) echo 101 ;;
        sasl) echo 102 ;; getEphemerals) echo 103 ;; getAllChildrenNumber) echo 104 ;;
        setWatches2) echo 105 ;; addWatch) echo 106 ;; whoAmI) echo 107 ;;
        closeSession) echo 245 ;; # -11
        *) echo 0 ;;
    esac
}

selector_byte() {
    printf "\\$(printf '%03o' "$1")"
}

# What a capture file holds: "0042-c01-s2c-create-err110.bin" -> "create".
what_of() {
    local name
    name="$(basename "$1" .bin)"
    name="${name#*-*-*-}"
    echo "${name%%-err*}"
}

count=0
for source in client-java client-edge; do
    dir="$data/$source"
    [ -d "$dir" ] || continue
    conns="$(ls "$dir" | sed -n 's/^[0-9]*-c\([0-9]*\)-\(c2s\|s2c\)-.*\.bin$/\1/p' | sort -u)"
    for conn in $conns; do
        for dirn in c2s s2c; do
            if [ "$dirn" = c2s ]; then target=client_frames; else target=server_frames; fi
            # Frames of this connection and direction, in capture order.
            mapfile -t files < <(ls "$dir" | grep -E "^[0-9]+-c${conn}-${dirn}-.*\.bin$" | sort)
            [ "${#files[@]}" -gt 0 ] || continue
            first="$dir/${files[0]}"
            # The selector for the whole connection: the first reply that is not the handshake.
            sel=0
            for f in "${files[@]:1}"; do
                code="$(op_code "$(what_of "$f")")"
                if [ "$code" != 0 ]; then sel="$code"; break; fi
            done
            out="$corpus/$target/$source-c$conn-whole"
            {
                [ "$target" = server_frames ] && selector_byte "$sel"
                for f in "${files[@]}"; do cat "$dir/$f"; done
            } > "$out"
            count=$((count + 1))
            # Each single frame after the handshake frame (the handshake alone for the first).
            for f in "${files[@]}"; do
                out="$corpus/$target/$source-$(basename "$f" .bin)"
                {
                    [ "$target" = server_frames ] && selector_byte "$(op_code "$(what_of "$f")")"
                    cat "$first"
                    [ "$dir/$f" != "$first" ] && cat "$dir/$f"
                    true
                } > "$out"
                count=$((count + 1))
            done
        done
    done
done

# Four-letter words (the server codec's other first-frame form).
for word in ruok srvr stat mntr conf; do
    printf '%s' "$word" > "$corpus/client_frames/4lw-$word"
    count=$((count + 1))
done
printf 'stmk\0\0\0\0\0\0\0\x2a' > "$corpus/client_frames/4lw-stmk"
printf '\xff\xf4\xff\xfd' > "$corpus/client_frames/4lw-telnetclose"
count=$((count + 2))

datadir="$data/fixtures/java-3.8.0-datadir/version-2"
for f in "$datadir"/log.* "$data"/storage/log.*; do
    [ -f "$f" ] || continue
    cp "$f" "$corpus/txn_log/$(basename "$(dirname "$f")")-$(basename "$f")"
    count=$((count + 1))
done

for f in "$datadir"/snapshot.* "$data"/storage/*snapshot.*; do
    [ -f "$f" ] || continue
    case "$f" in *.gz|*.snappy|*.lz4) continue ;; esac
    cp "$f" "$corpus/snapshot/$(basename "$(dirname "$f")")-$(basename "$f")"
    count=$((count + 1))
done

for f in "$data"/quorum/*.bin; do
    [ -f "$f" ] || continue
    cp "$f" "$corpus/quorum/$(basename "$f")"
    count=$((count + 1))
done

echo "seed-corpus.sh: wrote $count seeds under $corpus"
for target in client_frames server_frames txn_log snapshot quorum; do
    echo "  $target: $(ls "$corpus/$target" | wc -l) files"
done
