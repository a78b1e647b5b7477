"""The demo shop: products, people and the words its customers use, in Chinese and English."""

from __future__ import annotations

PRODUCTS = [
    ("AUD-PRO2", "降噪蓝牙耳机 Pro 2", "Pro 2 黑色", "899.00"),
    ("AUD-LITE", "蓝牙耳机 Lite", "Lite 白色", "199.00"),
    ("WAT-S3", "智能手表 S3", "S3 42mm", "1299.00"),
    ("KIT-AF5", "空气炸锅 5L", "AF-5L", "459.00"),
    ("KIT-KET", "不锈钢电热水壶", "KT-17", "129.00"),
    ("KB-MX87", "Mechanical keyboard MX87", "MX87 brown switch", "569.00"),
    ("CUP-KID", "儿童保温杯 500ml", "粉色", "89.00"),
    ("SCF-WOOL", "Merino wool scarf", "Grey", "259.00"),
    ("VAC-R9", "扫地机器人 R9", "R9 Max", "2399.00"),
    ("LMP-DESK", "护眼台灯", "LED-12W", "169.00"),
]

CUSTOMERS_ZH = [
    "王小明", "李娜", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "周杰", "吴敏",
    "徐涛", "孙悦", "马超", "朱婷", "胡军", "郭靖", "何欢", "高原", "林峰", "罗琳",
    "梁宇", "宋佳", "郑爽", "谢飞", "韩梅", "唐宁", "冯雪", "于洋", "董洁", "萧然",
    "程浩", "曹颖", "袁野", "邓超", "许晴", "傅雷", "沈腾", "曾黎", "彭博", "吕良",
]  # fmt: skip
CUSTOMERS_EN = [
    "Emily Carter", "James Wilson", "Sophie Martin", "Lucas Brown", "Olivia Chen",
    "Noah Kim", "Mia Rossi", "Liam O'Brien", "Ava Nguyen", "Ethan Müller",
]  # fmt: skip

CITIES = ["上海市浦东新区", "北京市朝阳区", "广东省深圳市南山区", "浙江省杭州市西湖区", "四川省成都市武侯区"]
CARRIERS = ["顺丰速运", "中通快递", "京东物流", "EMS"]

# (request type, subject, description, language)
TICKET_TEMPLATES = [
    ("product_quality", "耳机左耳没有声音", "收到的降噪蓝牙耳机左耳完全没有声音，重新配对也不行，想换货。", "zh"),
    ("product_quality", "空气炸锅有异味", "空气炸锅第一次用就有很重的塑料味，担心质量问题，要求退货退款。", "zh"),
    ("product_quality", "Watch screen cracked on arrival", "The smart watch S3 arrived with a cracked screen. I want a replacement.", "en"),
    ("logistics", "快递三天没有更新物流", "订单显示已发货，但是物流信息三天没有更新，什么时候能到？", "zh"),
    ("logistics", "包裹显示已签收但没收到", "快递显示已签收，但我本人没有收到包裹，也没有人代收。", "zh"),
    ("logistics", "Parcel stuck in transit", "My parcel has been stuck in transit for a week. Where is it?", "en"),
    ("usage", "扫地机器人无法连接WiFi", "扫地机器人R9按照说明书操作还是连不上家里的WiFi，请教怎么设置。", "zh"),
    ("usage", "How do I reset the keyboard lighting?", "The MX87 keyboard lighting is stuck on rainbow mode. How do I reset it?", "en"),
    ("return_exchange", "保温杯颜色发错了", "我买的是粉色儿童保温杯，收到的是蓝色，要求换货。", "zh"),
    ("return_exchange", "七天无理由退货", "台灯不太适合书房，包装都在，申请七天无理由退货。", "zh"),
    ("return_exchange", "Wrong size scarf, exchange please", "I received the wrong colour of the wool scarf and would like an exchange.", "en"),
    ("refund", "退款什么时候到账", "退货已经寄回去五天了，退款还没有到账，请帮忙查一下。", "zh"),
    ("refund", "Refund not received", "I returned the headphones last week but have not received my refund yet.", "en"),
    ("invoice", "需要开具增值税专用发票", "公司采购需要增值税专用发票，请问怎么申请？", "zh"),
    ("invoice", "Invoice for my order", "Could you send me a VAT invoice for my last order?", "en"),
    ("complaint", "客服态度差，要投诉", "上次联系客服，对方态度非常差，问题也没解决，我要投诉！", "zh"),
    ("complaint", "Very disappointed with the service", "This is the third time I contact you about the same problem. Unacceptable.", "en"),
    ("other", "会员积分怎么使用", "我的会员积分有2000分，请问可以抵扣现金吗？", "zh"),
]  # fmt: skip

REPLIES_ZH = [
    "您好，非常抱歉给您带来不便，麻烦提供一下商品照片，我们马上为您处理。",
    "您好，已经为您联系快递公司核实，预计明天给您答复。",
    "已为您登记换货，新商品会在48小时内发出，请留意物流信息。",
]
REPLIES_EN = [
    "Hello, we are sorry for the trouble. Could you send us a photo of the item so we can help right away?",
    "We have contacted the carrier and will update you by tomorrow.",
    "Your exchange is registered; the replacement ships within 48 hours.",
]
CANNED = [
    ("问候", "您好 {customer_name}，我是客服{agent_name}，很高兴为您服务。关于工单 {ticket_number}，", "zh-hans"),
    ("请提供照片", "您好 {customer_name}，麻烦您拍摄商品问题部位的照片或视频上传，方便我们尽快为您处理。", "zh-hans"),
    ("退货地址", "退货地址：上海市嘉定区物流园88号 售后仓 收；请保持商品及配件完整，并在包裹内附上订单号 {order_number}。", "zh-hans"),
    ("Greeting", "Hello {customer_name}, this is {agent_name}. About ticket {ticket_number}: ", "en"),
    ("Ask for photos", "Hello {customer_name}, could you upload photos or a short video of the problem?", "en"),
]  # fmt: skip

CASE_REASONS = [
    "不想要了，包装完好未拆封。",
    "The left earbud has no sound.",
    "收到时外壳有裂痕，附照片。",
    "Changed my mind, still sealed.",
    "少发了一个配件（充电线）。",
]
RETURN_ADDRESS = {"address": "上海市嘉定区安亭镇墨玉路 88 号 售后仓", "contact": "吴仓管", "phone": "021-5955 0000"}
