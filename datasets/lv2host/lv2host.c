/*
 * lv2host: render a raw float32 file through one LV2 plugin, block by block.
 *
 *   lv2host URI INPUT.f32 OUTPUT.f32 --rate HZ --in-channels N [--block 256] [--set SYMBOL=VALUE ...]
 *
 * INPUT is interleaved little-endian float32 with N channels; OUTPUT is interleaved float32 with one
 * channel per audio output of the plugin. One JSON line on stdout ends a successful run:
 *   {"uri": ..., "in_channels": N, "out_channels": M, "frames": F, "latency": L}
 * where L is the plugin's latency output port after the last block (0 if it has none).
 *
 * Offline and single-threaded: the worker runs synchronously inside run(), which the LV2 worker
 * spec explicitly allows when free-wheeling. Build:
 *   gcc -O2 -Wall -Wextra -std=c11 lv2host.c $(pkg-config --cflags --libs lilv-0) -lm -o lv2host
 */
#define _POSIX_C_SOURCE 200809L /* strdup, stat */

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lilv/lilv.h>
#include <lv2/atom/atom.h>
#include <lv2/buf-size/buf-size.h>
#include <lv2/core/lv2.h>
#include <lv2/log/log.h>
#include <lv2/options/options.h>
#include <lv2/parameters/parameters.h>
#include <lv2/resize-port/resize-port.h>
#include <lv2/state/state.h>
#include <lv2/urid/urid.h>
#include <lv2/worker/worker.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "lv2host reads and writes little-endian float32 as native floats"
#endif

#define ATOM_CAPACITY 8192 /* bytes per atom port buffer, unless the port asks for more */

/* --- errors and allocation ---------------------------------------------------------------------- */

#ifdef __GNUC__
__attribute__((format(printf, 1, 2)))
#endif
static _Noreturn void die(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fputs("lv2host: error: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    exit(1);
}

static void *xrealloc(void *ptr, size_t size)
{
    void *out = realloc(ptr, size ? size : 1);
    if (!out)
        die("out of memory");
    return out;
}

static void *xcalloc(size_t count, size_t size)
{
    void *out = calloc(count ? count : 1, size ? size : 1);
    if (!out)
        die("out of memory");
    return out;
}

/* --- urid:map / urid:unmap: URIs in a growable table, URID = index + 1 (0 means "no URID") ---- */

typedef struct {
    char **uris;
    uint32_t count, capacity;
} UridTable;

static LV2_URID urid_map(LV2_URID_Map_Handle handle, const char *uri)
{
    UridTable *table = handle;
    for (uint32_t i = 0; i < table->count; ++i)
        if (!strcmp(table->uris[i], uri))
            return i + 1;
    if (table->count == table->capacity) {
        table->capacity = table->capacity ? 2 * table->capacity : 64;
        table->uris = xrealloc(table->uris, table->capacity * sizeof *table->uris);
    }
    table->uris[table->count] = strdup(uri);
    if (!table->uris[table->count])
        die("out of memory");
    return ++table->count;
}

static const char *urid_unmap(LV2_URID_Unmap_Handle handle, LV2_URID urid)
{
    const UridTable *table = handle;
    return urid >= 1 && urid <= table->count ? table->uris[urid - 1] : NULL;
}

/* --- log:log: plugin messages go to stderr, prefixed with the level (Error, Warning, Note...) -- */

static int log_vprintf(LV2_Log_Handle handle, LV2_URID type, const char *fmt, va_list args)
{
    const char *uri = urid_unmap(handle, type);
    const char *level = uri && strchr(uri, '#') ? strchr(uri, '#') + 1 : "log";
    fprintf(stderr, "lv2host: plugin %s: ", level);
    return vfprintf(stderr, fmt, args);
}

static int log_printf(LV2_Log_Handle handle, LV2_URID type, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    const int written = log_vprintf(handle, type, fmt, args);
    va_end(args);
    return written;
}

/* --- worker:schedule, synchronous -----------------------------------------------------------------
 * schedule_work() calls the plugin's work() at once; work() answers through worker_respond(), which
 * queues a copy. After each run() the queued responses go to work_response() and end_run() follows.
 * Queue entries are a uint32 size in an 8-byte header, then the data padded to 8 bytes, so every
 * body handed back to the plugin is 8-byte aligned. */

typedef struct {
    uint8_t *data;
    size_t length, capacity;
} Queue;

typedef struct {
    LV2_Handle plugin;                  /* set once instantiated */
    const LV2_Worker_Interface *iface;  /* NULL if the plugin has no worker */
    Queue pending, delivering;
} Worker;

#define QUEUE_HEADER 8u
#define PADDED(size) (((size_t)(size) + 7u) & ~(size_t)7u)

static LV2_Worker_Status worker_respond(LV2_Worker_Respond_Handle handle, uint32_t size,
                                        const void *data)
{
    Queue *queue = &((Worker *)handle)->pending;
    const size_t needed = queue->length + QUEUE_HEADER + PADDED(size);
    if (needed > queue->capacity) {
        queue->capacity = needed > 2 * queue->capacity ? needed : 2 * queue->capacity;
        queue->data = xrealloc(queue->data, queue->capacity);
    }
    memcpy(queue->data + queue->length, &size, sizeof size);
    if (size)
        memcpy(queue->data + queue->length + QUEUE_HEADER, data, size);
    queue->length = needed;
    return LV2_WORKER_SUCCESS;
}

static LV2_Worker_Status schedule_work(LV2_Worker_Schedule_Handle handle, uint32_t size,
                                       const void *data)
{
    Worker *worker = handle;
    if (!worker->iface || !worker->plugin)
        return LV2_WORKER_ERR_UNKNOWN;
    return worker->iface->work(worker->plugin, worker_respond, worker, size, data);
}

/* Deliver what work() answered during this cycle, then end the cycle. A response may schedule more
 * work; its answers land in the (swapped-out) pending queue and are delivered in the next pass. */
static void worker_end_cycle(Worker *worker)
{
    if (!worker->iface)
        return;
    while (worker->pending.length) {
        const Queue swap = worker->delivering;
        worker->delivering = worker->pending;
        worker->pending = swap;
        worker->pending.length = 0;
        for (size_t at = 0; at < worker->delivering.length;) {
            uint32_t size;
            memcpy(&size, worker->delivering.data + at, sizeof size);
            worker->iface->work_response(worker->plugin, size,
                                         worker->delivering.data + at + QUEUE_HEADER);
            at += QUEUE_HEADER + PADDED(size);
        }
    }
    if (worker->iface->end_run)
        worker->iface->end_run(worker->plugin);
}

/* --- ports -------------------------------------------------------------------------------------- */

typedef enum {
    PORT_UNCONNECTED, /* an optional port of a kind this host does not handle */
    PORT_AUDIO_IN,
    PORT_AUDIO_OUT,
    PORT_CONTROL_IN,
    PORT_CONTROL_OUT,
    PORT_ATOM_IN,
    PORT_ATOM_OUT,
    PORT_CV
} PortKind;

typedef struct {
    PortKind kind;
    const char *symbol;
    float value;          /* control ports */
    float min, def, max;  /* control inputs; NAN where the plugin gives none */
    float *buffer;        /* audio and CV ports: one block */
    unsigned channel;     /* audio inputs: the input file channel that feeds it */
    LV2_Atom *atom;       /* atom ports */
    uint32_t atom_capacity;
} Port;

/* The lilv nodes the port scan asks about. */
typedef struct {
    LilvNode *input, *output, *audio, *control, *cv, *atom;
    LilvNode *connection_optional, *sample_rate, *designation, *latency, *reports_latency,
        *minimum_size;
} Classes;

static float node_float(const LilvNode *node)
{
    return node ? lilv_node_as_float(node) : NAN;
}

static bool port_is_latency(const LilvPlugin *plugin, const LilvPort *port, const Classes *c)
{
    if (lilv_port_has_property(plugin, port, c->reports_latency))
        return true;
    LilvNodes *designations = lilv_port_get_value(plugin, port, c->designation);
    const bool found = designations && lilv_nodes_contains(designations, c->latency);
    lilv_nodes_free(designations);
    return found;
}

/* Classify every port and give it storage. Returns the latency port's index, or -1. */
static long scan_ports(const LilvPlugin *plugin, const Classes *c, Port *ports, uint32_t n_ports,
                       double rate, uint32_t block)
{
    long latency_port = -1;
    for (uint32_t i = 0; i < n_ports; ++i) {
        const LilvPort *lport = lilv_plugin_get_port_by_index(plugin, i);
        Port *port = &ports[i];
        port->symbol = lilv_node_as_string(lilv_port_get_symbol(plugin, lport));
        const bool input = lilv_port_is_a(plugin, lport, c->input);
        if (!input && !lilv_port_is_a(plugin, lport, c->output))
            die("port '%s' is neither an input nor an output", port->symbol);

        if (lilv_port_is_a(plugin, lport, c->audio)) {
            port->kind = input ? PORT_AUDIO_IN : PORT_AUDIO_OUT;
            port->buffer = xcalloc(block, sizeof(float));
        } else if (lilv_port_is_a(plugin, lport, c->cv)) {
            port->kind = PORT_CV; /* inputs read silence, outputs are discarded */
            port->buffer = xcalloc(block, sizeof(float));
        } else if (lilv_port_is_a(plugin, lport, c->control) && input) {
            LilvNode *def, *min, *max;
            lilv_port_get_range(plugin, lport, &def, &min, &max);
            /* lv2:sampleRate: the range and default are fractions of the sample rate */
            const float scale =
                lilv_port_has_property(plugin, lport, c->sample_rate) ? (float)rate : 1.0f;
            port->kind = PORT_CONTROL_IN;
            port->def = node_float(def) * scale;
            port->min = node_float(min) * scale;
            port->max = node_float(max) * scale;
            /* no default: start at the minimum, or at 0 without one */
            port->value = !isnan(port->def) ? port->def : !isnan(port->min) ? port->min : 0.0f;
            lilv_node_free(def);
            lilv_node_free(min);
            lilv_node_free(max);
        } else if (lilv_port_is_a(plugin, lport, c->control)) {
            port->kind = PORT_CONTROL_OUT;
            if (latency_port < 0 && port_is_latency(plugin, lport, c))
                latency_port = (long)i;
        } else if (lilv_port_is_a(plugin, lport, c->atom)) {
            port->kind = input ? PORT_ATOM_IN : PORT_ATOM_OUT;
            /* rsz:minimumSize: the plugin needs at least this many bytes (LSP's UI port: 55296) */
            LilvNode *size = lilv_port_get(plugin, lport, c->minimum_size);
            const int wanted = size ? lilv_node_as_int(size) : 0;
            lilv_node_free(size);
            port->atom_capacity = wanted > ATOM_CAPACITY ? (uint32_t)wanted : ATOM_CAPACITY;
            port->atom = xcalloc(1, port->atom_capacity); /* malloc alignment suits atoms */
        } else if (lilv_port_has_property(plugin, lport, c->connection_optional)) {
            port->kind = PORT_UNCONNECTED;
        } else {
            die("port '%s' has a type this host does not support", port->symbol);
        }
    }
    return latency_port;
}

static void print_range_value(float value)
{
    if (isnan(value))
        fputs("-", stderr);
    else
        fprintf(stderr, "%g", value);
}

static void list_controls(const Port *ports, uint32_t n_ports)
{
    fputs("control inputs (min / default / max):\n", stderr);
    for (uint32_t i = 0; i < n_ports; ++i) {
        if (ports[i].kind != PORT_CONTROL_IN)
            continue;
        fprintf(stderr, "  %-16s ", ports[i].symbol);
        print_range_value(ports[i].min);
        fputs(" / ", stderr);
        print_range_value(ports[i].def);
        fputs(" / ", stderr);
        print_range_value(ports[i].max);
        fputc('\n', stderr);
    }
}

/* Apply one --set SYMBOL=VALUE to the control input of that symbol. */
static void set_control(Port *ports, uint32_t n_ports, const char *assignment)
{
    const char *equals = strchr(assignment, '=');
    if (!equals || equals == assignment)
        die("--set expects SYMBOL=VALUE, got '%s'", assignment);
    const size_t length = (size_t)(equals - assignment);
    char *end;
    const float value = strtof(equals + 1, &end);
    if (end == equals + 1 || *end)
        die("--set %s: '%s' is not a number", assignment, equals + 1);

    for (uint32_t i = 0; i < n_ports; ++i) {
        Port *port = &ports[i];
        if (port->kind != PORT_CONTROL_IN || strlen(port->symbol) != length ||
            strncmp(port->symbol, assignment, length))
            continue;
        if ((!isnan(port->min) && value < port->min) || (!isnan(port->max) && value > port->max))
            fprintf(stderr, "lv2host: warning: %s=%g is outside [%g, %g]; using it anyway\n",
                    port->symbol, value, port->min, port->max);
        port->value = value;
        return;
    }
    fprintf(stderr, "lv2host: error: the plugin has no control input '%.*s'\n", (int)length,
            assignment);
    list_controls(ports, n_ports);
    exit(1);
}

/* --- state:interface: --state and --state-path values, restored once before the first block ---- */

typedef struct {
    const char *const *entries; /* "URI=VALUE" */
    const bool *paths;
    int count;
    LV2_URID_Map *map;
    LV2_URID_Unmap *unmap;
} StateValues;

static const void *state_retrieve(LV2_State_Handle handle, uint32_t key, size_t *size, uint32_t *type,
                                  uint32_t *flags)
{
    const StateValues *values = handle;
    const char *uri = values->unmap->unmap(values->unmap->handle, key);
    for (int i = 0; uri && i < values->count; ++i) {
        const char *value = strchr(values->entries[i], '=') + 1;
        const size_t length = (size_t)(value - 1 - values->entries[i]);
        if (strlen(uri) != length || strncmp(uri, values->entries[i], length))
            continue;
        *size = strlen(value) + 1;
        *type = values->map->map(values->map->handle, values->paths[i] ? LV2_ATOM__Path : LV2_ATOM__String);
        *flags = LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE;
        return value;
    }
    return NULL;
}

/* --- command line ------------------------------------------------------------------------------- */

typedef struct {
    const char *uri, *input, *output;
    double rate;
    unsigned in_channels;
    uint32_t block;
    const char **sets;
    int n_sets;
    const char **states; /* "KEY=VALUE", restored as atom:String, or atom:Path where path[i] */
    bool *paths;
    int n_states;
    unsigned wait_ms;
} Args;

static const char usage[] =
    "usage: lv2host URI INPUT.f32 OUTPUT.f32 --rate HZ --in-channels N [--block 256] "
    "[--set SYMBOL=VALUE ...] [--state URI=TEXT ...] [--state-path URI=PATH ...] [--wait-ms MS]\n"
    "INPUT: raw interleaved float32 (little-endian), N channels; OUTPUT: raw interleaved float32,\n"
    "one channel per audio output of the plugin. Prints one JSON line with uri, in_channels,\n"
    "out_channels, frames, latency and the final values of the control outputs.";

static unsigned long parse_count(const char *option, const char *text)
{
    char *end;
    const unsigned long value = strtoul(text, &end, 10);
    if (end == text || *end || value == 0 || value > 1u << 24 || text[0] == '-')
        die("%s expects a positive integer, got '%s'", option, text);
    return value;
}

static Args parse_args(int argc, char **argv)
{
    Args args = {.block = 256,
                 .sets = xcalloc((size_t)argc, sizeof(char *)),
                 .states = xcalloc((size_t)argc, sizeof(char *)),
                 .paths = xcalloc((size_t)argc, sizeof(bool))};
    const char *positional[3];
    int n_positional = 0;
    for (int i = 1; i < argc; ++i) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            puts(usage);
            exit(0);
        }
        if (!strncmp(arg, "--", 2)) {
            const char *value = i + 1 < argc ? argv[i + 1] : NULL;
            if (!strcmp(arg, "--rate") && value) {
                char *end;
                args.rate = strtod(value, &end);
                if (end == value || *end || !(args.rate > 0))
                    die("--rate expects a positive number, got '%s'", value);
            } else if (!strcmp(arg, "--in-channels") && value) {
                args.in_channels = (unsigned)parse_count(arg, value);
            } else if (!strcmp(arg, "--block") && value) {
                args.block = (uint32_t)parse_count(arg, value);
            } else if (!strcmp(arg, "--set") && value) {
                args.sets[args.n_sets++] = value;
            } else if ((!strcmp(arg, "--state") || !strcmp(arg, "--state-path")) && value) {
                if (!strchr(value, '='))
                    die("%s expects URI=VALUE, got '%s'", arg, value);
                args.paths[args.n_states] = !strcmp(arg, "--state-path");
                args.states[args.n_states++] = value;
            } else if (!strcmp(arg, "--wait-ms") && value) {
                args.wait_ms = (unsigned)parse_count(arg, value);
            } else {
                die("unknown option %s, or it lacks its value\n%s", arg, usage);
            }
            ++i;
        } else if (n_positional < 3) {
            positional[n_positional++] = arg;
        } else {
            die("unexpected argument '%s'\n%s", arg, usage);
        }
    }
    if (n_positional < 3 || !(args.rate > 0) || args.in_channels == 0)
        die("URI, INPUT, OUTPUT, --rate and --in-channels are required\n%s", usage);
    args.uri = positional[0];
    args.input = positional[1];
    args.output = positional[2];
    return args;
}

static void print_json_string(const char *text)
{
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)text; *c; ++c) {
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if (*c < 0x20)
            printf("\\u%04x", *c);
        else
            putchar(*c);
    }
    putchar('"');
}

/* --- main --------------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    const Args args = parse_args(argc, argv);

    LilvWorld *world = lilv_world_new();
    lilv_world_load_all(world);
    LilvNode *uri_node = lilv_new_uri(world, args.uri);
    const LilvPlugin *plugin =
        uri_node ? lilv_plugins_get_by_uri(lilv_world_get_all_plugins(world), uri_node) : NULL;
    if (!plugin)
        die("no LV2 plugin with URI <%s> (lv2ls lists the installed ones)", args.uri);

    Classes classes = {
        .input = lilv_new_uri(world, LV2_CORE__InputPort),
        .output = lilv_new_uri(world, LV2_CORE__OutputPort),
        .audio = lilv_new_uri(world, LV2_CORE__AudioPort),
        .control = lilv_new_uri(world, LV2_CORE__ControlPort),
        .cv = lilv_new_uri(world, LV2_CORE__CVPort),
        .atom = lilv_new_uri(world, LV2_ATOM__AtomPort),
        .connection_optional = lilv_new_uri(world, LV2_CORE__connectionOptional),
        .sample_rate = lilv_new_uri(world, LV2_CORE__sampleRate),
        .designation = lilv_new_uri(world, LV2_CORE__designation),
        .latency = lilv_new_uri(world, LV2_CORE__latency),
        .reports_latency = lilv_new_uri(world, LV2_CORE__reportsLatency),
        .minimum_size = lilv_new_uri(world, LV2_RESIZE_PORT__minimumSize),
    };

    /* Ports: kinds, storage, defaults, then the --set overrides. */
    const uint32_t n_ports = lilv_plugin_get_num_ports(plugin);
    Port *ports = xcalloc(n_ports, sizeof *ports);
    const long latency_port = scan_ports(plugin, &classes, ports, n_ports, args.rate, args.block);
    for (int i = 0; i < args.n_sets; ++i)
        set_control(ports, n_ports, args.sets[i]);

    /* Input channels onto audio inputs: one to one, or mono duplicated onto a stereo pair. */
    unsigned n_audio_in = 0, n_audio_out = 0;
    for (uint32_t i = 0; i < n_ports; ++i) {
        if (ports[i].kind == PORT_AUDIO_IN)
            ports[i].channel = n_audio_in++;
        else if (ports[i].kind == PORT_AUDIO_OUT)
            ++n_audio_out;
    }
    const bool duplicate = args.in_channels == 1 && n_audio_in == 2;
    if (args.in_channels != n_audio_in && !duplicate)
        die("the input has %u channel(s) but the plugin has %u audio input(s); only equal counts "
            "or mono into 2 inputs are supported",
            args.in_channels, n_audio_in);
    if (n_audio_out == 0)
        die("the plugin has no audio outputs");
    if (duplicate)
        for (uint32_t i = 0; i < n_ports; ++i)
            if (ports[i].kind == PORT_AUDIO_IN)
                ports[i].channel = 0;

    /* Input and output files. */
    struct stat info;
    FILE *in = fopen(args.input, "rb");
    if (!in || stat(args.input, &info))
        die("cannot read %s", args.input);
    const size_t frame_bytes = sizeof(float) * args.in_channels;
    if ((size_t)info.st_size % frame_bytes)
        die("%s: %lld bytes is not a whole number of %u-channel float32 frames", args.input,
            (long long)info.st_size, args.in_channels);
    const uint64_t frames = (uint64_t)info.st_size / frame_bytes;
    FILE *out = fopen(args.output, "wb");
    if (!out)
        die("cannot write %s", args.output);

    /* Host features. Block lengths are bounded (every run() gets at most --block frames, the last
     * one fewer) but not fixed, so bufsz:fixedBlockLength is deliberately not offered. */
    UridTable urids = {0};
    LV2_URID_Map map = {&urids, urid_map};
    LV2_URID_Unmap unmap = {&urids, urid_unmap};
    LV2_Log_Log logger = {&urids, log_printf, log_vprintf};
    Worker worker = {0};
    LV2_Worker_Schedule schedule = {&worker, schedule_work};

    const int32_t max_block = (int32_t)args.block;
    const int32_t min_block =
        frames % args.block ? (int32_t)(frames % args.block) : (int32_t)args.block;
    const float sample_rate = (float)args.rate;
    const LV2_URID atom_int = urid_map(&urids, LV2_ATOM__Int);
    const LV2_Options_Option options[] = {
        {LV2_OPTIONS_INSTANCE, 0, urid_map(&urids, LV2_BUF_SIZE__maxBlockLength), sizeof(int32_t),
         atom_int, &max_block},
        {LV2_OPTIONS_INSTANCE, 0, urid_map(&urids, LV2_BUF_SIZE__minBlockLength), sizeof(int32_t),
         atom_int, &min_block},
#ifdef LV2_BUF_SIZE__nominalBlockLength
        {LV2_OPTIONS_INSTANCE, 0, urid_map(&urids, LV2_BUF_SIZE__nominalBlockLength),
         sizeof(int32_t), atom_int, &max_block},
#endif
        {LV2_OPTIONS_INSTANCE, 0, urid_map(&urids, LV2_PARAMETERS__sampleRate), sizeof(float),
         urid_map(&urids, LV2_ATOM__Float), &sample_rate},
        {LV2_OPTIONS_INSTANCE, 0, 0, 0, 0, NULL}, /* terminator */
    };

    const LV2_Feature map_feature = {LV2_URID__map, &map};
    const LV2_Feature unmap_feature = {LV2_URID__unmap, &unmap};
    const LV2_Feature log_feature = {LV2_LOG__log, &logger};
    const LV2_Feature schedule_feature = {LV2_WORKER__schedule, &schedule};
    const LV2_Feature options_feature = {LV2_OPTIONS__options, (void *)options};
    const LV2_Feature bounded_feature = {LV2_BUF_SIZE__boundedBlockLength, NULL};
    const LV2_Feature *features[] = {&map_feature,      &unmap_feature,   &log_feature,
                                     &schedule_feature, &options_feature, &bounded_feature,
                                     NULL};

    /* Required features must all be among ours. lv2:inPlaceBroken (an input must not share a
     * buffer with an output) is met without feature data: every port has its own buffer. */
    LilvNodes *required = lilv_plugin_get_required_features(plugin);
    LILV_FOREACH (nodes, it, required) {
        const char *feature = lilv_node_as_uri(lilv_nodes_get(required, it));
        bool offered = !strcmp(feature, LV2_CORE__inPlaceBroken);
        for (const LV2_Feature **f = features; *f && !offered; ++f)
            offered = !strcmp((*f)->URI, feature);
        if (!offered)
            die("the plugin requires the feature <%s>, which this host does not provide", feature);
    }
    lilv_nodes_free(required);

    LilvInstance *instance = lilv_plugin_instantiate(plugin, args.rate, features);
    if (!instance)
        die("could not instantiate <%s>", args.uri);
    worker.plugin = lilv_instance_get_handle(instance);
    worker.iface = lilv_instance_get_extension_data(instance, LV2_WORKER__interface);

    for (uint32_t i = 0; i < n_ports; ++i) {
        Port *port = &ports[i];
        void *location = NULL;
        switch (port->kind) {
        case PORT_AUDIO_IN:
        case PORT_AUDIO_OUT:
        case PORT_CV: location = port->buffer; break;
        case PORT_CONTROL_IN:
        case PORT_CONTROL_OUT: location = &port->value; break;
        case PORT_ATOM_IN:
        case PORT_ATOM_OUT: location = port->atom; break;
        case PORT_UNCONNECTED: break;
        }
        lilv_instance_connect_port(instance, i, location);
    }

    /* Process: read a block, spread it onto the audio inputs, run, gather the outputs. */
    const LV2_URID atom_sequence = urid_map(&urids, LV2_ATOM__Sequence);
    const LV2_URID atom_chunk = urid_map(&urids, LV2_ATOM__Chunk);
    float *in_block = xcalloc((size_t)args.block * args.in_channels, sizeof(float));
    float *out_block = xcalloc((size_t)args.block * n_audio_out, sizeof(float));
    lilv_instance_activate(instance);
    if (args.n_states) {
        const LV2_State_Interface *state = lilv_instance_get_extension_data(instance, LV2_STATE__interface);
        if (!state || !state->restore)
            die("--state given, but the plugin has no state:interface");
        StateValues values = {args.states, args.paths, args.n_states, &map, &unmap};
        if (state->restore(worker.plugin, state_retrieve, &values, 0, features) != LV2_STATE_SUCCESS)
            die("the plugin refused the state");
    }
    if (args.wait_ms) { /* a plugin may load what its state names on a thread of its own */
        const struct timespec pause = {args.wait_ms / 1000, (long)(args.wait_ms % 1000) * 1000000L};
        nanosleep(&pause, NULL);
    }
    for (uint64_t done = 0; done < frames;) {
        const uint32_t n = frames - done < args.block ? (uint32_t)(frames - done) : args.block;
        if (fread(in_block, frame_bytes, n, in) != n)
            die("reading %s failed", args.input);
        for (uint32_t i = 0; i < n_ports; ++i) {
            Port *port = &ports[i];
            if (port->kind == PORT_AUDIO_IN) {
                for (uint32_t f = 0; f < n; ++f)
                    port->buffer[f] = in_block[(size_t)f * args.in_channels + port->channel];
            } else if (port->kind == PORT_ATOM_IN) {
                /* an empty sequence: no events this block */
                LV2_Atom_Sequence *sequence = (LV2_Atom_Sequence *)port->atom;
                sequence->atom.size = sizeof(LV2_Atom_Sequence_Body);
                sequence->atom.type = atom_sequence;
                sequence->body.unit = 0;
                sequence->body.pad = 0;
            } else if (port->kind == PORT_ATOM_OUT) {
                /* an output atom says how much room the plugin has: a Chunk of the whole buffer */
                port->atom->size = port->atom_capacity - (uint32_t)sizeof(LV2_Atom);
                port->atom->type = atom_chunk;
            }
        }
        lilv_instance_run(instance, n);
        worker_end_cycle(&worker);
        for (uint32_t i = 0, channel = 0; i < n_ports; ++i) {
            if (ports[i].kind != PORT_AUDIO_OUT)
                continue;
            for (uint32_t f = 0; f < n; ++f)
                out_block[(size_t)f * n_audio_out + channel] = ports[i].buffer[f];
            ++channel;
        }
        if (fwrite(out_block, sizeof(float) * n_audio_out, n, out) != n)
            die("writing %s failed", args.output);
        done += n;
    }
    lilv_instance_deactivate(instance);
    lilv_instance_free(instance);
    if (fclose(out))
        die("writing %s failed", args.output);
    fclose(in);

    /* the latency port holds a whole number of frames, as a float */
    const float latency = latency_port >= 0 ? ports[latency_port].value : 0.0f;
    printf("{\"uri\": ");
    print_json_string(args.uri);
    printf(", \"in_channels\": %u, \"out_channels\": %u, \"frames\": %llu, \"latency\": %ld, "
           "\"controls\": {",
           args.in_channels, n_audio_out, (unsigned long long)frames,
           isfinite(latency) ? lround(latency) : 0L);
    for (uint32_t i = 0, first = 1; i < n_ports; ++i) {
        if (ports[i].kind != PORT_CONTROL_OUT)
            continue;
        printf(first ? "" : ", ");
        print_json_string(ports[i].symbol);
        printf(isfinite(ports[i].value) ? ": %.9g" : ": null", ports[i].value);
        first = 0;
    }
    printf("}}\n");

    /* Clean up. */
    free(in_block);
    free(out_block);
    for (uint32_t i = 0; i < n_ports; ++i) {
        free(ports[i].buffer);
        free(ports[i].atom);
    }
    free(ports);
    free(worker.pending.data);
    free(worker.delivering.data);
    for (uint32_t i = 0; i < urids.count; ++i)
        free(urids.uris[i]);
    free(urids.uris);
    free(args.sets);
    free(args.states);
    free(args.paths);
    LilvNode *nodes[] = {classes.input, classes.output, classes.audio, classes.control, classes.cv,
                         classes.atom, classes.connection_optional, classes.sample_rate,
                         classes.designation, classes.latency, classes.reports_latency,
                         classes.minimum_size, uri_node};
    for (size_t i = 0; i < sizeof nodes / sizeof *nodes; ++i)
        lilv_node_free(nodes[i]);
    lilv_world_free(world);
    return 0;
}
