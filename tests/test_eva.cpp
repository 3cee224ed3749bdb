// Tests of include/vit/eva.h (timm's Eva family) against tests/reference/eva.py.
#include <vit/eva.h>
#include <vit/inference.h>
#include <vit/pretrained.h>
#include <vit/state_dict.h>
#include <vit/zoo.h>

#include "golden.h"

#include <filesystem>
#include <functional>
#include <map>

namespace vit {
namespace {

using testing::Args;
using testing::Built;
using testing::Golden;
using testing::single;

// Builds the module a golden describes from the Python keyword arguments in its config, through the
// options tables (a key the C++ side does not know fails the case).
Built build(const Golden& g) {
  const auto config = g.config.dump();
  const auto what = "[golden " + g.name + "]";
  if (g.module == "Eva") return single(Eva(options_from_json(config, EvaOptions(), what)));
  if (g.module == "EvaAttention") return single(EvaAttention(options_from_json(config, EvaAttentionOptions(), what)));
  if (g.module == "EvaBlock") return single(EvaBlock(options_from_json(config, EvaBlockOptions(), what)));
  if (g.module != "RopeApply") {
    ADD_FAILURE() << "unknown eva module " << g.module;
    return {};
  }
  // The rotary table of one grid applied to (B, heads, h*w, head_dim), as Eva's attention applies it.
  Args a(g.config);
  auto options = RotaryEmbeddingOptions()
                     .rope_type(a.get<std::string>("rope_type", "cat"))
                     .dim(a.get<int64_t>("embed_dim", 64))
                     .num_heads(a.get<int64_t>("num_heads", 4))
                     .depth(a.get<int64_t>("depth", 1))
                     .temperature(a.get<double>("temperature", 10000.))
                     .grid_offset(a.get<double>("grid_offset", 0.))
                     .grid_indexing(a.get<std::string>("grid_indexing", "ij"));
  const auto ref = a.get<testing::json>("ref_feat_shape", nullptr);
  if (!ref.is_null()) options.ref_feat_shape(Size2(ref.get<std::vector<int64_t>>()));
  const auto grid = a.get<std::array<int64_t, 2>>("grid", {4, 4});
  const bool half = a.get<bool>("rotate_half", false);
  const auto index = a.get<int64_t>("block", 0);
  a.finish();
  RotaryEmbedding rope(options);
  return {rope.ptr(), [=](const torch::Tensor& x) mutable {
            auto table = rope->get_embed(grid, x);
            if (rope->options.rope_type() == "mixed") table = table[index];
            return std::vector<torch::Tensor>{apply_rotary_embedding(x, table, half)};
          }};
}

// ---- outputs and gradients, state_dict keys of full-size models, forward_intermediates,
// prune_intermediate_layers and attention maps equal the Python reference ---------------------------

VIT_GOLDEN_MODEL_TESTS(Eva, "eva", build);

TEST(EvaGoldens, EveryModuleAndRopeTypeHasAReferenceCase) {
  std::set<std::string> modules, ropes;
  for (const auto& name : testing::golden_cases("eva", "forward")) {
    const auto g = testing::load_golden(name);
    modules.insert(g.module);
    if (g.module == "RopeApply") ropes.insert(g.config.value("rope_type", "cat"));
    if (g.module == "Eva" && g.config.value("use_rot_pos_emb", false)) ropes.insert(g.config.value("rope_type", "cat"));
  }
  EXPECT_EQ(modules, (std::set<std::string>{"Eva", "EvaAttention", "EvaBlock", "RopeApply"}));
  EXPECT_EQ(ropes, (std::set<std::string>{"cat", "mixed", "dinov3"}));
}

// ---- the Model interface ----------------------------------------------------------------------------

EvaOptions tiny() {
  return EvaOptions().img_size(32).patch_size(8).num_classes(10).embed_dim(32).depth(2).num_heads(2);
}

// The zoo refuses a too large model from count_parameters(options) before building it; every switch of
// the field table is drawn at random, so an option added later fails here until the count knows it.
TEST(Eva, ParameterCountFromTheOptionsAloneEqualsTheModels) {
  int built = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    auto o = tiny().num_reg_tokens(seed % 3).img_size({32, 48}).patch_size({8, 16}).swiglu_align_to(seed % 2 ? 24 : 0);
    testing::randomize_switches(o.fields(), seed);
    if (seed % 3) o.use_rel_pos_bias(false).use_shared_rel_pos_bias(false);  // BEiT's bias refuses register tokens
    std::shared_ptr<EvaImpl> m;
    try {
      m = std::make_shared<EvaImpl>(o);
    } catch (const c10::Error&) {
      continue;
    }
    ++built;
    EXPECT_EQ(count_parameters(o), count_parameters(*m)) << c10::str(*m);
  }
  EXPECT_GT(built, 100);
}

TEST(Eva, AnswersTheModelInterface) {
  Eva m(tiny().img_size({32, 48}).in_chans(1).use_rot_pos_emb(true).rope_type("mixed").num_reg_tokens(2).init_values(0.1));
  const Model& model = *m;
  EXPECT_EQ(model.family(), "eva");
  EXPECT_EQ(model.input_size(), (std::array<int64_t, 3>{1, 32, 48}));
  EXPECT_EQ(model.num_features(), 32);
  EXPECT_EQ(model.num_prefix_tokens(), 3);
  EXPECT_EQ(model.num_patches(), 24);
  EXPECT_EQ(model.head_tokens(), 0);  // avg pooling reads every token
  EXPECT_EQ(model.no_weight_decay(), (std::set<std::string>{"pos_embed", "cls_token", "reg_token", "rope.freqs"}));
  EXPECT_EQ(model.classifier(), std::vector<std::string>{"head"});
  EXPECT_EQ(model.layer_id("reg_token"), 0);
  EXPECT_EQ(model.layer_id("blocks.1.attn.q_bias"), 2);
  EXPECT_EQ(model.layer_id("rope.freqs"), 3);
  EXPECT_EQ(model.layer_id("head.weight"), 3);
  EXPECT_TRUE(model.block_weights().empty());
  EXPECT_FALSE(model.engine_unsupported().empty());
  EXPECT_EQ(options_to_json(options_from_json(model.model_args(), EvaOptions())), options_to_json(m->options));
  m->eval();
  const auto x = torch::randn({2, 1, 32, 48});
  EXPECT_TRUE(torch::allclose(m->forward(x), m->forward_head(m->forward_norm(m->forward_blocks(m->forward_embed(x)))), 1e-6, 1e-6));
  // clone: deep and equal
  auto copy = std::dynamic_pointer_cast<EvaImpl>(m->clone());
  ASSERT_TRUE(copy);
  EXPECT_TRUE(torch::allclose(m->forward(x), copy->forward(x), 1e-6, 1e-6));
  torch::NoGradGuard no_grad;
  copy->rope->freqs.zero_();
  EXPECT_FALSE(torch::equal(m->rope->freqs, copy->rope->freqs));
}

TEST(Eva, FixedRotaryTablesAreComputedOncePerGridAndDynamicSizesWork) {
  Eva m(tiny().use_rot_pos_emb(true).dynamic_img_size(true).ref_feat_shape(Size2(4)));
  m->eval();
  torch::NoGradGuard no_grad;
  const auto x = torch::randn({1, 3, 32, 32});
  const auto a = m->rope->get_embed({4, 4}, x), b = m->rope->get_embed({4, 4}, x);
  EXPECT_TRUE(a.is_same(b));
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{16, 32}));  // (h*w, 2 * head_dim)
  EXPECT_FALSE(m->rope->get_embed({3, 5}, x).is_same(a));
  for (const auto& shape : {std::vector<int64_t>{2, 3, 24, 40}, std::vector<int64_t>{1, 3, 64, 16}}) {
    const auto y = m->forward(torch::randn(shape));
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{shape[0], 10}));
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  }
}

TEST(Eva, GradientsReachEveryParameter) {
  for (const auto& options : {tiny().use_rot_pos_emb(true).rope_type("mixed").init_values(0.1).global_pool("map"),
                              tiny().use_rot_pos_emb(true).qkv_fused(false).swiglu_mlp(true).scale_mlp(true).scale_attn_inner(true),
                              tiny().use_rot_pos_emb(true).rope_type("dinov3").num_reg_tokens(4).use_post_norm(true)}) {
    Eva m(options);
    m->train();
    m->forward(torch::randn({2, 3, 32, 32})).square().sum().backward();
    for (const auto& p : m->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.) << p.key();
    }
  }
}

TEST(Eva, ImpossibleConfigsAndInputsThrowClearErrors) {
  EXPECT_ERROR(Eva(tiny().num_heads(3)), "[Eva] embed_dim 32 is not divisible by num_heads 3");
  EXPECT_ERROR(Eva(tiny().embed_dim(24).num_heads(4).use_rot_pos_emb(true)), "[Eva] rotary embeddings need a head_dim (6) that is a multiple of 4");
  EXPECT_ERROR(Eva(tiny().rope_type("axial")), "[Eva] 'rope_type' must be one of 'cat', 'mixed', 'dinov3', got \"axial\"");
  EXPECT_ERROR(Eva(tiny().global_pool("map").attn_pool_num_heads(5)), "[Eva] embed_dim 32 is not divisible by attn_pool_num_heads 5");
  EXPECT_ERROR(options_from_json(R"({"ref_feat_shape": [16]})", EvaOptions(), "[Eva]"), "[Eva] 'ref_feat_shape' must be an int, [h, w] or null");
  Eva m(tiny().use_rot_pos_emb(true));
  EXPECT_ERROR(m->forward(torch::randn({1, 3, 40, 32})), "[PatchEmbed] input image size (40*32) doesn't match model (32*32)");
  EXPECT_ERROR(m->forward_head(torch::randn({2, 32})), "[Eva] forward_head expects tokens");
  const auto context = m->forward_embed(torch::randn({1, 3, 32, 32})).context;
  EXPECT_ERROR(m->forward_block(0, torch::randn({1, 7, 32}), context),
               "[forward_block] the blocks expect tokens (B, 17, D): 1 prefix tokens and the 16 patches of the input (a 4x4 "
               "grid) whose forward_embed gave their context, got [1, 7, 32]");
  BlockContext no_table;
  no_table.grid = {4, 4};
  EXPECT_ERROR(m->forward_block(0, torch::randn({1, 17, 32}), no_table),
               "[Eva] forward_block needs the rotary table of the input's grid");
}

TEST(Eva, BlocksTakeTheTablesOfTheirOwnInputAsInThePythonReference) {
  // Two inputs with the same token count whose patch grids are each other's transpose (3x5 and 5x3;
  // 1x6 and 6x1), both embedded before either runs through the blocks: each input's context carries
  // its own rotary table, and both give the Python reference's logits.
  for (const char* name : {"eva_transposed_grids_cat", "eva_transposed_grids_mixed"}) {
    SCOPED_TRACE(name);
    const auto g = testing::load_golden(name);
    const auto m = testing::golden_model(g);
    torch::NoGradGuard no_grad;
    const auto a = g.tensor("input"), b = g.tensor("input_t");
    const auto embedded_a = m->forward_embed(a), embedded_b = m->forward_embed(b);
    ASSERT_EQ(embedded_a.tokens.sizes(), embedded_b.tokens.sizes());
    const auto logits = [&](const Embedded& embedded) { return m->forward_head(m->forward_norm(m->forward_blocks(embedded))); };
    EXPECT_TRUE(testing::all_close(logits(embedded_b), g.tensor("output_t"), 1e-5));
    EXPECT_TRUE(testing::all_close(logits(embedded_a), g.tensor("output"), 1e-5));
    // the tables matter: the other grid's table gives other logits
    EXPECT_FALSE(testing::all_close(logits({embedded_a.tokens, embedded_b.context}), g.tensor("output"), 1e-3));
    InferenceModel engine(m);
    EXPECT_TRUE(testing::all_close(engine.forward(b), g.tensor("output_t"), 1e-5));
    EXPECT_TRUE(testing::all_close(engine.forward(a), g.tensor("output"), 1e-5));
  }
}

TEST(Eva, InferenceModelAndSavedCheckpointsGivePythonsLogits) {
  // the Python reference's logits of a RoPE-mixed model with register tokens and LayerScale, through
  // InferenceModel (the module path) and through save_pretrained / load_pretrained
  for (const char* name : {"eva_vit_rope_mixed_like", "eva_vit_dinov3_qkvb_like"}) {
    SCOPED_TRACE(name);
    const auto g = testing::load_golden(name);
    const auto model = testing::golden_model(g);
    torch::NoGradGuard no_grad;
    InferenceModel engine(model);
    EXPECT_EQ(engine.backend().rfind("module", 0), 0u) << engine.backend();
    EXPECT_TRUE(testing::all_close(engine.forward(g.tensor("input")), g.tensor("output"), 1e-5));
    const auto dir = testing::scratch_path(std::string("eva_checkpoint_") + name);
    save_pretrained(make_pretrained(model), dir);
    auto loaded = load_pretrained(dir);
    EXPECT_EQ(loaded.module->family(), "eva");
    EXPECT_TRUE(testing::all_close(loaded.forward(g.tensor("input")), g.tensor("output"), 1e-5));
    std::filesystem::remove_all(dir);
  }
}

// ---- checkpoints of other layouts (timm's checkpoint_filter_fn) -----------------------------------

using testing::golden_state;
using testing::replaced;

// Loads `state` into the golden's model the way load_pretrained does and compares with `expected`.
void expect_loads(const Golden& g, StateDict state, const torch::Tensor& expected) {
  Eva m(options_from_json(g.config.dump(), EvaOptions()));
  m->eval();
  m->checkpoint_filter_fn(state);
  load_state_dict(*m, state);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(testing::all_close(m->forward(g.tensor("input")), expected, 1e-5));
}

TEST(EvaCheckpointLayouts, MetaDinov3KeysLoadAsTimms) {
  // Meta's DINOv3: storage_tokens, ls1.gamma / ls2.gamma, one qkv.bias (its k third unused), and
  // pretraining-only tensors (mask_token, rope_embed.periods, local_cls_norm).
  for (const char* name : {"eva_vit_dinov3_qkvb_like", "eva_vit_dinov3_like"}) {
    SCOPED_TRACE(name);
    const auto g = testing::load_golden(name);
    std::map<std::string, torch::Tensor> qv;
    auto state = golden_state(g, [&](std::string k) {
      k = replaced(k, "gamma_1", "ls1.gamma");
      k = replaced(k, "gamma_2", "ls2.gamma");
      return replaced(k, "reg_token", "storage_tokens");
    });
    StateDict meta;
    for (auto& [k, v] : state) {
      if (k.find(".attn.q_bias") != std::string::npos) {
        qv[k.substr(0, k.find(".q_bias"))] = v;
        continue;
      }
      if (k.find(".attn.v_bias") != std::string::npos) {
        const auto stem = k.substr(0, k.find(".v_bias"));
        meta.emplace_back(stem + ".qkv.bias", torch::cat({qv[stem], torch::randn_like(v), v}));
        continue;
      }
      meta.emplace_back(k, v);
      if (k.find(".attn.qkv.weight") != std::string::npos && !g.config.value("qkv_bias", true))  // zeros, as the distilled models have
        meta.emplace_back(replaced(k, ".weight", ".bias"), torch::zeros({v.size(0)}));
    }
    const int64_t D = g.config.at("embed_dim").get<int64_t>();
    meta.emplace_back("mask_token", torch::zeros({1, D}));
    meta.emplace_back("rope_embed.periods", torch::ones({D / g.config.at("num_heads").get<int64_t>() / 4}));
    meta.emplace_back("local_cls_norm.weight", torch::ones({D}));
    expect_loads(g, meta, g.tensor("output"));
  }
}

TEST(EvaCheckpointLayouts, PerceptionEncoderKeysLoadAsTimms) {
  // Meta's PE: OpenAI-CLIP-like keys under "visual.", LayerScale ls_1 / ls_2, the attention pool's
  // fused in_proj and a bias-free projection as the head.
  const auto g = testing::load_golden("eva_vit_pe_core_like");
  auto model = std::dynamic_pointer_cast<EvaImpl>(testing::golden_model(g));
  torch::NoGradGuard no_grad;
  model->head->bias.zero_();  // PE's projection has no bias
  const auto expected = model->forward(g.tensor("input"));
  std::map<std::string, torch::Tensor> pool;
  StateDict pe;
  for (const auto& [key, value] : g.with_prefix("param/")) {
    auto k = key;
    auto v = value;
    if (k == "head.bias") continue;
    if (k.rfind("attn_pool.q.", 0) == 0 || k.rfind("attn_pool.kv.", 0) == 0) {
      pool[k] = v;  // q comes before kv
      if (k.rfind("attn_pool.kv.", 0) == 0) {
        const auto kind = k.substr(k.rfind('.') + 1);
        pe.emplace_back("visual.attn_pool.attn.in_proj_" + kind, torch::cat({pool.at("attn_pool.q." + kind), v}));
      }
      continue;
    }
    if (k == "head.weight") {
      pe.emplace_back("visual.proj", v.t().contiguous());
      continue;
    }
    if (k == "cls_token") k = "class_embedding", v = v.reshape({-1});
    if (k == "pos_embed") k = "positional_embedding", v = v.squeeze(0);
    k = replaced(k, "patch_embed.proj", "conv1");
    k = replaced(k, "norm_pre", "ln_pre");
    k = replaced(k, "blocks.", "transformer.resblocks.");
    k = replaced(k, "norm1", "ln_1");
    k = replaced(k, "norm2", "ln_2");
    k = replaced(k, "attn.qkv.", "attn.in_proj_");
    k = replaced(k, "attn_pool.proj", "attn_pool.attn.out_proj");
    k = replaced(k, ".attn.proj", ".attn.out_proj");
    k = replaced(k, "mlp.fc1", "mlp.c_fc");
    k = replaced(k, "mlp.fc2", "mlp.c_proj");
    k = replaced(k, "attn_pool.norm", "attn_pool.layernorm");
    k = replaced(k, "attn_pool.latent", "attn_pool.probe");
    if (k.rfind("norm.", 0) == 0) k = "ln_post." + k.substr(5);
    pe.emplace_back("visual." + k, v);
  }
  pe.emplace_back("text.token_embedding.weight", torch::zeros({4, 4}));  // the text tower is not the model's
  expect_loads(g, pe, expected);
}

TEST(EvaCheckpointLayouts, Eva02OriginalAndOpenClipKeysLoadAsTimms) {
  // BAAI's EVA02 / EVA-CLIP: SwiGLU as w1 / w2 / w3 with ffn_ln, inner_attn_ln, q_bias / v_bias of
  // separate projections, the tower under "visual." (open_clip), a MIM checkpoint's mask_token.
  for (const char* name : {"eva_eva02_like", "eva_eva02_clip_like"}) {
    SCOPED_TRACE(name);
    const auto g = testing::load_golden(name);
    const bool clip = std::string(name).find("clip") != std::string::npos;
    auto state = golden_state(g, [&](std::string k) {
      k = replaced(k, "mlp.fc1_g", "mlp.w1");
      k = replaced(k, "mlp.fc1_x", "mlp.w2");
      k = replaced(k, "mlp.fc2", "mlp.w3");
      k = replaced(k, "mlp.norm", "mlp.ffn_ln");
      k = replaced(k, "attn.norm", "attn.inner_attn_ln");
      k = replaced(k, "q_proj.bias", "q_bias");
      k = replaced(k, "v_proj.bias", "v_bias");
      return clip ? "visual." + k : k;
    });
    state.emplace_back(clip ? "visual.rope.freqs_cos" : "rope.freqs_cos", torch::zeros({4, 4}));  // fixed tables: dropped
    if (clip) state.emplace_back("text.positional_embedding", torch::zeros({4, 4}));
    expect_loads(g, state, g.tensor("output"));
  }
}

// ---- every zoo name: timm's parameter count ---------------------------------------------------

// timm 1.0.x (commit aa4b5850) parameter counts of every name of eva.py (the full models counted on
// the meta device).
const std::vector<testing::TimmCount> kTimmCounts = {
    {"eva02_base_patch14_224", 85758720, 64, 155223},
    {"eva02_base_patch14_448", 87117544, 64, 204375},
    {"eva02_base_patch16_clip_224", 86263040, 64, 163159},
    {"eva02_enormous_patch14_clip_224", 4350556928, 64, 229967},
    {"eva02_large_patch14_224", 303268800, 64, 155223},
    {"eva02_large_patch14_448", 305080232, 64, 204375},
    {"eva02_large_patch14_clip_224", 304105152, 64, 155479},
    {"eva02_large_patch14_clip_336", 304432832, 64, 175959},
    {"eva02_small_patch14_224", 21621120, 64, 154543},
    {"eva02_small_patch14_336", 22129000, 64, 175023},
    {"eva02_tiny_patch14_224", 5502144, 64, 154543},
    {"eva02_tiny_patch14_336", 5756584, 64, 175023},
    {"eva_giant_patch14_224", 1012555112, 64, 160565},
    {"eva_giant_patch14_336", 1013005672, 64, 181045},
    {"eva_giant_patch14_560", 1014447464, 64, 246581},
    {"eva_giant_patch14_clip_224", 1012588928, 64, 160565},
    {"vit_7b_patch16_dinov3", 6716030976, 64, 133575},
    {"vit_base_patch16_dinov3", 85641216, 64, 149959},
    {"vit_base_patch16_dinov3_qkvb", 85659648, 64, 150215},
    {"vit_base_patch16_rope_224", 86434792, 64, 150087},
    {"vit_base_patch16_rope_ape_224", 86585320, 64, 162631},
    {"vit_base_patch16_rope_mixed_224", 86444008, 64, 150215},
    {"vit_base_patch16_rope_mixed_ape_224", 86594536, 64, 162759},
    {"vit_base_patch16_rope_reg1_gap_256", 86425576, 64, 149959},
    {"vit_betwixt_patch16_rope_reg4_gap_256", 60226920, 64, 150151},
    {"vit_huge_plus_patch16_dinov3", 840509440, 64, 183239},
    {"vit_huge_plus_patch16_dinov3_qkvb", 840591360, 64, 183495},
    {"vit_large_patch16_dinov3", 303079424, 64, 149959},
    {"vit_large_patch16_dinov3_qkvb", 303128576, 64, 150215},
    {"vit_large_patch16_rope_224", 304174056, 64, 150087},
    {"vit_large_patch16_rope_ape_224", 304374760, 64, 162631},
    {"vit_large_patch16_rope_mixed_224", 304198632, 64, 150215},
    {"vit_large_patch16_rope_mixed_ape_224", 304399336, 64, 162759},
    {"vit_medium_patch16_rope_reg1_gap_256", 38743016, 64, 149959},
    {"vit_mediumd_patch16_rope_reg1_gap_256", 63945704, 64, 149703},
    {"vit_pe_core_base_patch16_224", 93673984, 64, 212423},
    {"vit_pe_core_gigantic_patch14_448", 1882033920, 64, 283953},
    {"vit_pe_core_large_patch14_336", 317152256, 64, 225223},
    {"vit_pe_core_small_patch16_384", 23783168, 64, 236743},
    {"vit_pe_core_tiny_patch16_384", 6141056, 64, 236743},
    {"vit_pe_lang_gigantic_patch14_448", 1740922624, 64, 234161},
    {"vit_pe_lang_large_patch14_448", 291415040, 64, 204103},
    {"vit_pe_spatial_base_patch16_512", 86433792, 64, 215367},
    {"vit_pe_spatial_gigantic_patch14_448", 1851887104, 64, 234161},
    {"vit_pe_spatial_large_patch14_448", 303964160, 64, 203847},
    {"vit_pe_spatial_small_patch16_512", 21983232, 64, 215367},
    {"vit_pe_spatial_tiny_patch16_512", 5683200, 64, 215367},
    {"vit_small_patch16_dinov3", 21586944, 64, 149959},
    {"vit_small_patch16_dinov3_qkvb", 21596160, 64, 150215},
    {"vit_small_patch16_rope_224", 21984232, 64, 150087},
    {"vit_small_patch16_rope_ape_224", 22059496, 64, 162631},
    {"vit_small_patch16_rope_mixed_224", 21988840, 64, 150215},
    {"vit_small_patch16_rope_mixed_ape_224", 22064104, 64, 162759},
    {"vit_small_plus_patch16_dinov3", 28683264, 64, 183239},
    {"vit_small_plus_patch16_dinov3_qkvb", 28692480, 64, 183495},
    {"vit_tiny_patch16_dinov3_qkvb", 5489664, 64, 150215},
    {"beit_base_patch16_224", 86530984, 64, 155815},
    {"beit_base_patch16_384", 86744104, 64, 167655},
    {"beit_large_patch16_224", 304430568, 64, 155815},
    {"beit_large_patch16_384", 304998888, 64, 167655},
    {"beit_large_patch16_512", 305674728, 64, 181735},
    {"beitv2_base_patch16_224", 86530984, 64, 155815},
    {"beitv2_large_patch16_224", 304430568, 64, 155815},
};

TEST(Zoo, EveryTimmEvaNameHasTimmsParameterCount) {
  testing::check_timm_counts("eva", kTimmCounts, [](const std::string& args) {
    return count_parameters(options_from_json(args, EvaOptions()));
  });
  EXPECT_EQ(kTimmCounts.size(), 63u);
}

}  // namespace
}  // namespace vit
