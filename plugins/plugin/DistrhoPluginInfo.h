// DPF plugin description of the ddsp_kit plugin. The generic player is built with the defaults below;
// a per-model build (ddsp-kit export --plugin, cmake -DDDSP_KIT_EMBED_MODEL=FILE) overrides the name, URI
// and IDs through compile definitions and embeds the model.
#pragma once

#ifndef DDSP_KIT_PLUGIN_NAME
#define DDSP_KIT_PLUGIN_NAME "ddsp_kit player"
#endif
#ifndef DDSP_KIT_PLUGIN_URI
#define DDSP_KIT_PLUGIN_URI "urn:ddsp-kit:player"
#endif
#ifndef DDSP_KIT_PLUGIN_CLAP_ID
#define DDSP_KIT_PLUGIN_CLAP_ID "org.ddsp-kit.player"
#endif

#define DISTRHO_PLUGIN_BRAND "ddsp_kit"
#define DISTRHO_PLUGIN_NAME DDSP_KIT_PLUGIN_NAME
#define DISTRHO_PLUGIN_URI DDSP_KIT_PLUGIN_URI
#define DISTRHO_PLUGIN_CLAP_ID DDSP_KIT_PLUGIN_CLAP_ID

#define DISTRHO_PLUGIN_HAS_UI 0
#define DISTRHO_PLUGIN_IS_RT_SAFE 1
#define DISTRHO_PLUGIN_NUM_INPUTS 2
#define DISTRHO_PLUGIN_NUM_OUTPUTS 2
#define DISTRHO_PLUGIN_WANT_LATENCY 1
// The player's model path is a state (a file path: LV2 hosts must offer worker:schedule); a per-model build
// has no state, so minimal LV2 hosts (lv2file) load it.
#ifdef DDSP_KIT_EMBEDDED
#define DISTRHO_PLUGIN_WANT_STATE 0
#else
#define DISTRHO_PLUGIN_WANT_STATE 1
#endif
#define DISTRHO_PLUGIN_WANT_FULL_STATE 0
#define DISTRHO_PLUGIN_LV2_CATEGORY "lv2:SimulatorPlugin"
#define DISTRHO_PLUGIN_VST3_CATEGORIES "Fx|Distortion"
#define DISTRHO_PLUGIN_CLAP_FEATURES "audio-effect", "distortion", "stereo"
