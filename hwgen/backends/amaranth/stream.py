"""The streaming top (`--io stream`): one input pixel per handshake, a stage per window op.

Ports: `clk`, `rst`, `in_valid`, `in_ready`, `in_data` (one pixel: channel c at bits
[c*w, (c+1)*w), pixels in raster order, image after image), `out_valid`, `out_data` (as the
parallel top's: every output of an image, then the argmax of a model that ended in softmax;
`out_valid` is high for one cycle per image and is not held back: a reader takes it then).
A pixel moves when `in_valid` and `in_ready` are both high at a clock edge; `in_ready`
depends only on the design's state, never on `in_valid`.

Each stage (`ir.stream.Stage`) walks its padded image one position per step: a real
position takes a pixel from the stage before it, a padding position shifts in the padding
value without waiting. The pixels go through a line buffer (a shift register one window
span long), whose fixed taps are the window; a step whose position completes a window at
the stride hands it to the stage's pixel datapath (the parallel `Top` of its per-pixel
graph, with its own pipeline registers and, with `--reuse`, its folded lanes), whose
results queue in a FIFO for the next stage (Amaranth's `SyncFIFO`, or `SyncFIFOBuffered` in
block RAM when it is deep: `fifo_in_ram`). A step that would
produce a result waits until the datapath takes a window (once per its II) and the FIFO has
room for every result in flight, so no result is ever dropped and a slow stage holds the
ones before it back through `in_ready`. The last stage's pixels are collected into the
whole tensor, and the tail (the rest of the graph, a parallel `Top`) takes it on the last
pixel when it can take a vector.

`timing` replays this control cycle by cycle (the same rules, in Python) for the manifest's
latency and II; the stream bench checks both against the simulated RTL.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ...ir.stream import Scan
from .top import Top, module_name

# A line buffer's stretch between two window rows (pixels no tap reads) is a RAM delay line
# from this many bits on (block RAM where Yosys finds it worth one), flip-flops below.
LINE_RAM_BITS = 1024


def ram_rows(scan, pixel_bits: int) -> list[int]:
    """The window rows j whose gap to row j + 1 (scan width - window width pixels) is a RAM
    delay line: at least 2 pixels (the RAM's read register is the last) and LINE_RAM_BITS."""
    gap = scan.scan[1] - scan.extent[1]
    if gap < 2 or gap * pixel_bits < LINE_RAM_BITS:
        return []
    return list(range(scan.extent[0] - 1))

# An output FIFO at least this deep (and of at least LINE_RAM_BITS) is Amaranth's
# SyncFIFOBuffered, whose synchronous read Yosys maps to block RAM; a shallower one is a
# SyncFIFO, whose asynchronous read is distributed RAM on ECP5 (six logic cells per 16 x 4
# bits) and flip-flops on iCE40. The deep ones are those before a folded stage (room for a
# row's burst, `fifo_depths`): 313-555 pixels of 128-256 bits in QKeras's example_mnist
# at reuse 16, 24.6k of its 52.4k ECP5 cells as distributed RAM.
FIFO_RAM_DEPTH = 32


def fifo_in_ram(depth: int, width: int) -> bool:
    """Whether a stage's output FIFO of `depth` entries of `width` bits is block RAM."""
    # Never below 3: SyncFIFOBuffered of depth 2 holds one entry in RAM and one in its
    # output register, and a write into a full RAM is dropped while the register is empty
    # (the room check counts both). From 3 on, the register is empty only with the RAM
    # holding at most one entry.
    return depth >= max(FIFO_RAM_DEPTH, 3) and depth * width >= LINE_RAM_BITS




def fifo_depth(latency: int) -> int:
    """Entries of a stage's output FIFO: every result in flight through a datapath of
    `latency` (`Top.latency`: out_valid is high `latency` cycles after in_valid) and two
    more, so that a stage whose reader takes a result per cycle never waits for room."""
    return latency + 2


def fifo_depths(latencies: list[int], intervals: list[int]) -> list[int]:
    """Each stage's output FIFO depth, given every stage's pixel datapath latency and
    interval: `fifo_depth` of its own latency, and when the next stage's datapath is folded
    (interval ii > 1, it emits at most once per ii cycles) room for ii + 2 more pixels, so
    that a burst of outputs along a row waits in this FIFO instead of stalling the stream
    back to its input (which would lengthen the image interval)."""
    out = []
    for k, lat in enumerate(latencies):
        nxt = intervals[k + 1] if k + 1 < len(intervals) else 1
        out.append(fifo_depth(lat) + (nxt + 2 if nxt > 1 else 0))
    return out


def _mask(bits) -> int:
    return sum(1 << i for i, b in enumerate(bits) if b)


def _pixel_const(code: int, width: int, channels: int) -> int:
    """A pixel of `channels` copies of `code` (two's complement in `width` bits)."""
    one = code & ((1 << width) - 1)
    return sum(one << (c * width) for c in range(channels))


class WindowStage(wiring.Component):
    """One stream stage: scan counters, line buffer, pixel datapath, output FIFO."""

    def __init__(self, scan: Scan, pixel: Top | None, in_width: int, out_width: int,
                 depth: int):
        self.scan, self.pixel = scan, pixel
        self.in_elem = in_width // scan.channels
        self.latency = pixel.latency if pixel else 0
        self.ii = pixel.ii if pixel else 1
        self.depth = depth              # of the output FIFO (fifo_depths)
        super().__init__({"in_valid": In(1), "in_ready": Out(1), "in_data": In(in_width),
                          "out_valid": Out(1), "out_ready": In(1), "out_data": Out(out_width)})

    def elaborate(self, platform):
        m = Module()
        sc = self.scan
        hs, ws = sc.scan
        py, px = Signal(range(max(hs, 2)), name="row"), Signal(range(max(ws, 2)), name="col")

        def bit(mask_bits, index, n):
            return Const(_mask(mask_bits), n).bit_select(index, 1)
        real = Signal()
        emit = Signal()
        m.d.comb += [real.eq(bit(sc.real_rows, py, hs) & bit(sc.real_cols, px, ws)),
                     emit.eq(bit(sc.emit_rows, py, hs) & bit(sc.emit_cols, px, ws))]
        # SyncFIFOBuffered's level counts its output register too, so the room check below
        # is the same for both; its read side lags a write by one more cycle (`timing`).
        fifo_kind = SyncFIFOBuffered if fifo_in_ram(self.depth, len(self.out_data)) \
            else SyncFIFO
        fifo = fifo_kind(width=len(self.out_data), depth=self.depth)
        m.submodules.fifo = fifo
        inflight = Signal(range(self.depth + 1))
        cooldown = Signal(range(max(self.ii, 2)))
        can_emit = ~emit | (((fifo.level + inflight) < self.depth) & (cooldown == 0))
        step = Signal()
        m.d.comb += [step.eq(Mux(real, self.in_valid, 1) & can_emit),
                     self.in_ready.eq(real & can_emit)]
        fill = Const(_pixel_const(sc.fill, self.in_elem, sc.channels), len(self.in_data))
        pixel_in = Signal(len(self.in_data))
        m.d.comb += pixel_in.eq(Mux(real, self.in_data, fill))
        # The line buffer: at[k] is the pixel shifted in k steps ago. A gap between two
        # window rows is a RAM ring of depth gap - 1 read before written at one address
        # on each step; its read register (loaded on the step, held between) is the gap's
        # last pixel, so the delay is exactly the registers'.
        width, wp, ex = len(self.in_data), sc.scan[1], sc.extent[1]
        rams = ram_rows(sc, width)
        at: list = [pixel_in] + [None] * (sc.line_pixels - 1)
        for k in range(1, sc.line_pixels):
            j, r = divmod(k, wp)
            if j in rams and r >= ex:
                if r == wp - 1:
                    at[k] = self._delay_line(m, at[j * wp + ex - 1], wp - ex - 1, step, j)
                continue
            reg = Signal(width, name=f"line_{k}", reset_less=True)
            with m.If(step):
                m.d.sync += reg.eq(at[k - 1])
            at[k] = reg
        issue = Signal()
        m.d.comb += issue.eq(step & emit)
        if self.pixel is not None:
            m.submodules.pixel = self.pixel
            window = [at[sc.tap(ry, rx)] for ry in range(sc.extent[0])
                      for rx in range(sc.extent[1])]
            m.d.comb += [self.pixel.in_valid.eq(issue), self.pixel.in_data.eq(Cat(*window)),
                         fifo.w_en.eq(self.pixel.out_valid),
                         fifo.w_data.eq(self.pixel.out_data)]
            m.d.sync += inflight.eq(inflight + issue - self.pixel.out_valid)
        else:
            m.d.comb += [fifo.w_en.eq(issue), fifo.w_data.eq(pixel_in)]
        if self.ii > 1:
            with m.If(issue):
                m.d.sync += cooldown.eq(self.ii - 1)
            with m.Elif(cooldown != 0):
                m.d.sync += cooldown.eq(cooldown - 1)
        with m.If(step):
            with m.If(px == ws - 1):
                m.d.sync += [px.eq(0), py.eq(Mux(py == hs - 1, 0, py + 1))]
            with m.Else():
                m.d.sync += px.eq(px + 1)
        m.d.comb += [self.out_valid.eq(fifo.r_rdy), self.out_data.eq(fifo.r_data),
                     fifo.r_en.eq(self.out_ready)]
        return m


    @staticmethod
    def _delay_line(m, value, depth: int, step, row: int):
        mem = Memory(shape=len(value), depth=depth, init=[])
        m.submodules[f"line_ram_{row}"] = mem
        wr, rd = mem.write_port(), mem.read_port()
        ptr = Signal(range(max(depth, 2)), name=f"line_ram_{row}_ptr")
        with m.If(step):
            m.d.sync += ptr.eq(Mux(ptr == depth - 1, 0, ptr + 1))
        m.d.comb += [wr.addr.eq(ptr), wr.data.eq(value), wr.en.eq(step),
                     rd.addr.eq(ptr), rd.en.eq(step)]
        return rd.data


@dataclass
class StageBuild:
    """A stage ready to elaborate: its scan, pixel Top (or None) and port widths."""
    name: str
    scan: Scan
    pixel: Top | None
    in_width: int
    out_width: int
    depth: int            # of its output FIFO (fifo_depths)


class StreamTop(wiring.Component):
    def __init__(self, name: str, stages: list[StageBuild], collected_pixels: int,
                 pixel_width: int, tail: Top | None, out_width: int):
        self.name, self.stages, self.tail = name, stages, tail
        self.collected_pixels, self.pixel_width = collected_pixels, pixel_width
        self.in_width = stages[0].in_width
        self.out_width = out_width
        self.modules: list[tuple[str, object]] = []
        super().__init__({"in_valid": In(1), "in_ready": Out(1), "in_data": In(self.in_width),
                          "out_valid": Out(1), "out_data": Out(out_width)})

    def elaborate(self, platform):
        m = Module()
        valid, data = self.in_valid, self.in_data
        ready_of_source = None
        for s in self.stages:
            stage = WindowStage(s.scan, s.pixel, s.in_width, s.out_width, s.depth)
            m.submodules[module_name(s.name)] = stage
            m.d.comb += [stage.in_valid.eq(valid), stage.in_data.eq(data)]
            if ready_of_source is None:
                m.d.comb += self.in_ready.eq(stage.in_ready)
            else:
                m.d.comb += ready_of_source.eq(stage.in_ready)
            valid, data, ready_of_source = stage.out_valid, stage.out_data, stage.out_ready
        n = self.collected_pixels
        bank = [Signal(self.pixel_width, name=f"collect_{k}", reset_less=True)
                for k in range(n - 1)]
        pos = Signal(range(max(n, 2)), name="collect_pos")
        last = pos == n - 1
        tail_cool = Signal(range(max(self.tail.ii if self.tail else 1, 2)), name="tail_cooldown")
        ready = ~last | (tail_cool == 0)
        consume = valid & ready
        m.d.comb += ready_of_source.eq(ready)
        with m.If(consume):
            m.d.sync += pos.eq(Mux(last, 0, pos + 1))
            for k, r in enumerate(bank):
                with m.If(pos == k):
                    m.d.sync += r.eq(data)
        vector = Cat(*bank, data)
        done = consume & last
        if self.tail is not None:
            m.submodules.tail = self.tail
            m.d.comb += [self.tail.in_valid.eq(done), self.tail.in_data.eq(vector),
                         self.out_valid.eq(self.tail.out_valid),
                         self.out_data.eq(self.tail.out_data)]
            if self.tail.ii > 1:
                with m.If(done):
                    m.d.sync += tail_cool.eq(self.tail.ii - 1)
                with m.Elif(tail_cool != 0):
                    m.d.sync += tail_cool.eq(tail_cool - 1)
        else:
            out = Signal(self.out_width, name="out_r", reset_less=True)
            out_valid = Signal(name="out_valid_r")
            with m.If(done):
                m.d.sync += out.eq(vector)
            m.d.sync += out_valid.eq(done)
            m.d.comb += [self.out_data.eq(out), self.out_valid.eq(out_valid)]
        return m


def timing(stages: list[StageBuild], collected_pixels: int, tail: Top | None,
           images: int = 4) -> dict:
    """The control above replayed cycle by cycle with a pixel offered on every cycle:
    {"latency": cycles from an image's first pixel taken to its `out_valid` (the first
    image), "ii": cycles between two images' outputs once the stream runs full,
    "cycles_per_image": the same for every pair}. Each cycle's decisions read only the
    state at its start, as the registers do."""
    k_n = len(stages)
    lat = [s.pixel.latency if s.pixel else 0 for s in stages]
    ii = [s.pixel.ii if s.pixel else 1 for s in stages]
    depth = [s.depth for s in stages]
    # A block-RAM FIFO (SyncFIFOBuffered) offers its head from its output register `ready`,
    # loaded from the RAM one cycle after the entry is written; `level` counts both.
    ram = [fifo_in_ram(s.depth, s.out_width) for s in stages]
    ready = [False] * k_n
    pos = [0] * k_n
    level = [0] * k_n
    inflight = [0] * k_n
    cool = [0] * k_n
    pending: list[list[int]] = [[] for _ in range(k_n)]      # cycles of out_valid
    total_in = images * stages[0].scan.pixels
    fed = 0
    first_taken = {}
    collect_pos, tail_cool = 0, 0
    out_at: list[int] = []
    # out_valid comes `latency` cycles after the tail's in_valid; 1 after the last pixel
    # without a tail (the output register).
    tail_lat = tail.latency if tail is not None else 1
    tail_ii = tail.ii if tail is not None else 1
    done_at: list[int] = []
    t = 0
    limit = (total_in + 10) * (max(ii) + 2) * 4 + sum(depth) * 10 + tail_ii * images * 4 + 10000

    def head(k):                 # the FIFO of stage k offers an entry this cycle
        return ready[k] if ram[k] else level[k] > 0

    while len(out_at) < images and t < limit:
        new_level = list(level)
        new_inflight = list(inflight)
        r_en = [False] * k_n                 # each FIFO's reader is ready (r_en)
        for k, s in enumerate(stages):
            sc = s.scan
            hs, ws = sc.scan
            py, px = divmod(pos[k], ws)
            real = bool(sc.real_rows[py] and sc.real_cols[px])
            emit = bool(sc.emit_rows[py] and sc.emit_cols[px])
            avail = (fed < total_in) if k == 0 else head(k - 1)
            can_emit = (not emit) or (level[k] + inflight[k] < depth[k] and cool[k] == 0)
            if k > 0:
                r_en[k - 1] = real and can_emit
            step = (avail or not real) and can_emit
            if step and real:
                if k == 0:
                    if fed % sc.pixels == 0:
                        first_taken[fed // sc.pixels] = t
                    fed += 1
                else:
                    new_level[k - 1] -= 1
            issue = step and emit
            if step:
                pos[k] = (pos[k] + 1) % (hs * ws)
            if issue:
                if stages[k].pixel is not None:    # out_valid `latency` cycles later
                    pending[k].append(t + lat[k])
                    new_inflight[k] += 1
                else:
                    new_level[k] += 1
            if ii[k] > 1:
                cool[k] = ii[k] - 1 if issue else max(cool[k] - 1, 0)
            while pending[k] and pending[k][0] == t:
                pending[k].pop(0)
                new_level[k] += 1
                new_inflight[k] -= 1
        # The collector reads the last FIFO.
        last = collect_pos == collected_pixels - 1
        r_en[-1] = not last or tail_cool == 0
        if head(k_n - 1) and r_en[-1]:
            new_level[-1] -= 1
            collect_pos = 0 if last else collect_pos + 1
            if last:
                done_at.append(t)
                out_at.append(t + tail_lat)
        if tail_ii > 1:
            tail_cool = tail_ii - 1 if (done_at and done_at[-1] == t) else max(tail_cool - 1, 0)
        for k in range(k_n):
            if ram[k]:       # SyncFIFOBuffered's output register, from the cycle's start
                inner = level[k] - ready[k]
                ready[k] = (inner > 0 and (not ready[k] or r_en[k])) or \
                    (ready[k] and not r_en[k])
        level, inflight = new_level, new_inflight
        t += 1
    if len(out_at) < images:
        raise RuntimeError("the stream timing model did not finish (a control deadlock)")
    gaps = [b - a for a, b in zip(out_at, out_at[1:])]
    # Latency as the parallel top counts it: from the cycle whose edge takes the image's
    # first pixel to the cycle in which out_valid is high.
    return {"latency": out_at[0] - first_taken[0], "ii": max(gaps) if gaps else None,
            "intervals": gaps, "outputs_at": out_at,
            "first_pixel_at": [first_taken[i] for i in range(images)]}
