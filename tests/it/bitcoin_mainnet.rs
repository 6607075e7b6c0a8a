//! Real mainnet blocks served by a replay node: exact transfers for watched
//! addresses of every standard script type, including P2TR and P2WSH from
//! block 866342, and a spend inside the same block reported as `out`.
//! Expected values were read from the raw blocks by an independent parser.

use crate::common;

use common::*;

struct Expect {
    address: &'static str,
    /// (txid, index, direction, amount)
    transfers: &'static [(&'static str, u32, &'static str, u64)],
}

const B413567: &[Expect] = &[
    Expect {
        address: "1AHdKTzCBuhWzojZPdU1Jx4uCGjBkgRmxt",
        transfers: &[(
            "21aa3e383c6eb089be6b894e835210e7d9ba5afc7d6c39af38c9c94009f94ead",
            1,
            "in",
            459831367,
        )],
    },
    Expect {
        address: "3EMTvggdXo5YJTzqmcJXaJJ6jvtmYFDCR5",
        transfers: &[(
            "491fc3ddfd65e77380688fdbbd5bd05fe0aa46f9b620eb49913cbee2779ccaff",
            0,
            "in",
            82646,
        )],
    },
    Expect {
        address: "114xVNoWkv6LdtgUcCSm8xtBwi84EYscYi",
        transfers: &[
            (
                "16dd510561d38603c70246e512fe4272b94b90c0eadead0bccfacdc9f3e625ae",
                1,
                "in",
                259183077192,
            ),
            (
                "b973d91fc502c2056d6d57bf066795ede491b4069fa2270dbebac2081573d474",
                0,
                "out",
                259183077192,
            ),
        ],
    },
];

const B702861: &[Expect] = &[
    Expect {
        address: "1Hf16aUW3yjzi3STTUBwA9VGgWUpDvXC1T",
        transfers: &[(
            "2b22b06220e31781c94ccaa68f654d54749eb37a1ab0de9c3aadd27f075e434b",
            1,
            "in",
            52514804,
        )],
    },
    Expect {
        address: "3BFwifA3YAiv8TeCYMkeYnVWPcJFzsBXE3",
        transfers: &[(
            "2b22b06220e31781c94ccaa68f654d54749eb37a1ab0de9c3aadd27f075e434b",
            0,
            "in",
            1332318,
        )],
    },
    Expect {
        address: "bc1qxp53jp0p75cfgrryt4m8qylex8xf0j9mum8gpl",
        transfers: &[(
            "7bf717689b9033eafb2f3272719989b304bb7db616c2bfb5ded2e1b76d50a4f0",
            1,
            "in",
            2297555,
        )],
    },
    Expect {
        address: "bc1qmexsnhyukr729eclj6mesu0unyf3p0qvn6app6fu5j2xjmavay4qrx02ge",
        transfers: &[(
            "7bf717689b9033eafb2f3272719989b304bb7db616c2bfb5ded2e1b76d50a4f0",
            0,
            "in",
            422939,
        )],
    },
    Expect {
        address: "bc1qsjadx32l77tz8w7u4qqtj0s3kd3f0gnajr32x6",
        transfers: &[
            (
                "844765783bed1c5877ce2e6793e30c3b6a44293fcaf056f9ee4735c1e10467f6",
                3,
                "in",
                607322,
            ),
            (
                "19d58791290881f41beff6a88e91ba4f7a4eb11c83241822c7514d4a3af78dea",
                0,
                "out",
                607322,
            ),
        ],
    },
];

const B866342: &[Expect] = &[
    Expect {
        address: "1DMUGUHeTZQze5d6gkh4KG35yrzZHgWPaS",
        transfers: &[(
            "5a52f42a58565cd075bcf41e169c0ab91202951f6cd6709c9a777c3fcb623a8e",
            1,
            "in",
            1434725,
        )],
    },
    Expect {
        address: "35iMHbUZeTssxBodiHwEEkb32jpBfVueEL",
        transfers: &[(
            "52677ddef7459cf62c3105f13c2e6b0515978fc76e300365a03ca2a4af357f7a",
            0,
            "in",
            131441501,
        )],
    },
    Expect {
        address: "bc1qwhgnwum33k7wxx78c9dszx7f8p5vswrnz2ke45",
        transfers: &[(
            "52677ddef7459cf62c3105f13c2e6b0515978fc76e300365a03ca2a4af357f7a",
            1,
            "in",
            841487,
        )],
    },
    Expect {
        address: "bc1q89sx3f3q5fjqc5k3qm2w4kl3j572c573h4e2f7yg0c34kcl2dexsxt8pyu",
        transfers: &[(
            "c38b57a058714a976ec73f48305dab538590ae7cfdbb35606afba84b6fcfe154",
            0,
            "in",
            89196,
        )],
    },
    Expect {
        address: "bc1p3p9z690l0ne2er7plv7w33ef2duxht580d4vg0dcexv5ke8q78aqg9lz7w",
        transfers: &[(
            "82b597dc67d0a236bcdb042430a81e32951fabc3707e2f623ddafe72b335d763",
            1,
            "in",
            44906470,
        )],
    },
    Expect {
        address: "bc1qr35hws365juz5rtlsjtvmulu97957kqvr3zpw3",
        transfers: &[
            (
                "5a52f42a58565cd075bcf41e169c0ab91202951f6cd6709c9a777c3fcb623a8e",
                0,
                "in",
                195631361,
            ),
            (
                "6b3e181588801af1b7754fac36c56f63f217c2801ce236618575c3ef20d0d567",
                0,
                "in",
                143023744,
            ),
        ],
    },
    Expect {
        address: "bc1qyc07l8qlv6nw6vk7g7uy9cn9qusuq5nusgwxty",
        transfers: &[
            (
                "16a8313fcd10397306f5ae7448a49afca2cf7b1b8aff3367a48396ea4f0efb94",
                0,
                "in",
                17088,
            ),
            (
                "d00cdbe72cb8e63d41e54eabda1393c490bf88fc98fc7f214dc93cba3faf875c",
                0,
                "out",
                17088,
            ),
        ],
    },
];

const BLOCKS: [(u64, &str, u64, &[Expect]); 3] = [
    (
        413567,
        "0000000000000000025aff8be8a55df8f89c77296db6198f272d6577325d4069",
        1464307123,
        B413567,
    ),
    (
        702861,
        "000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae",
        1633002641,
        B702861,
    ),
    (
        866342,
        "000000000000000000014ce9ba7c6760053c3c82ce6ab43d60afb101d3c8f1f1",
        1729334970,
        B866342,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_blocks_yield_exact_transfers_for_every_script_type() {
    let Some(dir) = fixtures() else { return };
    let mut nodes = Vec::new();
    let mut sections = Vec::new();
    for (height, _, _, _) in BLOCKS {
        let raw = std::fs::read(dir.join(format!("btc/block-{height}.raw"))).unwrap();
        let block: bitcoin::Block = bitcoin::consensus::deserialize(&raw).unwrap();
        // The node shows its block only once the watches are in place.
        let node = ReplayNode::start(height, &[]).await;
        sections.push(node.chain_toml(&format!("btc{height}"), "mainnet", height, 1));
        nodes.push((node, block));
    }
    let data = tempfile::tempdir().unwrap();
    let d = Daemon::start(&config_text(data.path(), &sections)).await;
    let mut ndjson = String::new();
    for (height, _, _, expects) in BLOCKS {
        for e in expects {
            ndjson.push_str(&format!(
                "{{\"chain\":\"btc{height}\",\"address\":\"{}\",\"label\":\"{}\"}}\n",
                e.address, e.address
            ));
        }
    }
    assert_eq!(d.watch_batch(ndjson).await.0, 200);
    for ((node, block), (height, ..)) in nodes.iter().zip(BLOCKS) {
        node.set_chain(height, std::slice::from_ref(block));
    }
    for (height, hash, time, expects) in BLOCKS {
        let chain = format!("btc{height}");
        d.wait_indexed(&chain, height).await;
        for e in expects {
            let got = d.transfers(&chain, e.address).await;
            let mut got: Vec<(String, u64, String, u64)> = got
                .iter()
                .map(|t| {
                    assert_eq!(t["address"], e.address);
                    assert_eq!(t["block_hash"], hash);
                    assert_eq!(t["block"]["time"], time);
                    assert_eq!(t["height"], height);
                    assert_eq!(t["asset"]["symbol"], "BTC");
                    assert_eq!(t["watch"]["label"], e.address);
                    (
                        t["txid"].as_str().unwrap().to_string(),
                        t["index"].as_u64().unwrap(),
                        t["direction"].as_str().unwrap().to_string(),
                        t["amount"].as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect();
            let mut want: Vec<(String, u64, String, u64)> = e
                .transfers
                .iter()
                .map(|(txid, i, dir, amount)| {
                    (txid.to_string(), u64::from(*i), dir.to_string(), *amount)
                })
                .collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{chain} {}", e.address);
        }
    }
    d.stop().await;
}
