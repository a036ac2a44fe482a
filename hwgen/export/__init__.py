"""Board and hand-off exports: self-test and UART tops, board builds, hls4ml, ASIC."""
