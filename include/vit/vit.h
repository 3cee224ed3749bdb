#pragma once
// vitcpp: Vision Transformers for LibTorch. One include for the whole library.

#include "vit/data.h"                // Dataset, ImageFolder, load_fashion_mnist, training transforms
#include "vit/distributed.h"         // ProcessGroup, GradientReducer: data parallelism on c10d
#include "vit/device.h"              // default_device()
#include "vit/eva.h"                 // timm: Eva (EVA02, DINOv3, PE, RoPE-ViT)
#include "vit/image.h"               // read_image, resize, preprocess (timm eval transform)
#include "vit/inference.h"           // InferenceModel: fast inference (oneDNN on the CPU)
#include "vit/init.h"                // trunc_normal_, SkipInitGuard
#include "vit/model.h"               // vit::Model: the interface every model class implements
#include "vit/options.h"             // options structs' field tables: JSON in and out, validation
#include "vit/pos_embed_rel.h"       // RelPosBias, RelPosMlp: relative-position attention biases (BEiT, relpos ViTs)
#include "vit/pretrained.h"          // load_pretrained / save_pretrained (hub checkpoint directories)
#include "vit/pretrained_cfg.h"      // PretrainedCfg: a checkpoint's input and preprocessing
#include "vit/safetensors.h"         // load_safetensors / save_safetensors
#include "vit/state_dict.h"          // load_state_dict, read_weights
#include "vit/torch_save.h"          // load_torch_save (torch.save zip checkpoints)
#include "vit/train.h"               // Trainer, fit: AdamW, warm-up + cosine, distillation, resume
#include "vit/version.h"             // VITCPP_VERSION
#include "vit/vision_transformer.h"  // timm: PatchEmbed, Attention, Mlp, DropPath, Block, VisionTransformer
#include "vit/vit_pytorch.h"         // lucidrains: PreNorm, FeedForward, Transformer, ViT (+ vit_pytorch::Attention)
#include "vit/zoo.h"                 // create_model, list_models, architecture
