#!/usr/bin/env python3
"""Write conformance/cases/nhsa/*: the national-interface conformance cases.

Inputs are literal JSON (exact bytes matter: number text, nulls, extra keys). Expected
outcomes: reject cases list the rule ids (and paths) by hand; accept cases of settled claims
carry hand-written canonical claims (amounts computed by hand in fen); other accept cases get
their expected.json from nhsa_oracle.py, an independent implementation driven by the spec
tables, not by the Rust code. Re-run after editing: python3 conformance/tools/gen_nhsa_cases.py
"""
import copy
import json
import pathlib
import re
import shutil
from decimal import Decimal

import nhsa_oracle as oracle

ROOT = pathlib.Path(__file__).resolve().parents[2]
CASES_DIR = ROOT / "conformance" / "cases" / "nhsa"


def loads(text):
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def dumps(v, indent=None):
    def mark(x):
        if isinstance(x, dict):
            return {k: mark(y) for k, y in x.items()}
        if isinstance(x, list):
            return [mark(y) for y in x]
        if isinstance(x, Decimal):
            return f"@@D:{x}@@"
        return x
    s = json.dumps(mark(v), ensure_ascii=False, indent=indent)
    return re.sub(r'"@@D:([^@]+)@@"', r"\1", s)


D = Decimal
CASES = []


def case(name, kind, description, input_text, *, accept=None, rules=None, paths=None,
         infno=None, options=None):
    CASES.append(dict(name=name, kind=kind, description=description, input=input_text,
                      accept=accept, rules=rules, paths=paths, infno=infno, options=options))


# ---------------------------------------------------------------- envelopes
def env(infno, msgid_tail="202406011030150001", code="H44030000001", name="示例医院",
        area="440300", insuplc="440399", **extra):
    e = {"infno": infno, "msgid": code + msgid_tail, "mdtrtarea_admvs": area,
         "insuplc_admdvs": insuplc, "recer_sys_code": "YBXT", "dev_no": "", "dev_safe_info": "",
         "cainfo": "", "signtype": "", "infver": "V1.0", "opter_type": "1", "opter": "0001",
         "opter_name": "张三", "inf_time": "2024-06-01 10:30:15", "fixmedins_code": code,
         "fixmedins_name": name, "sign_no": "440000202406010800000000000123"}
    e.update(extra)
    return e


def req(infno, input_obj, **kw):
    e = env(infno, **kw)
    e["input"] = input_obj
    return e


def resp(output, infcode=D(0), err_msg="", **extra):
    r = {"infcode": infcode, "inf_refmsgid": "440300202406011030160000000001",
         "refmsg_time": "20240601103016001", "respond_time": "20240601103016250",
         "err_msg": err_msg, "warn_msg": "", "output": output}
    r.update(extra)
    return r


PSN = "44000000000000000001"
MDTRT = "440000000123"

# ---------------------------------------------------------------- transaction inputs
IN = {}
IN["1101"] = loads('{"data":{"mdtrt_cert_type":"02","mdtrt_cert_no":"440300199001011234","card_sn":"","begntime":null,"psn_cert_type":"01","certno":"440300199001011234","psn_name":"李四"}}')
IN["2201"] = loads('{"data":{"psn_no":"%s","insutype":"310","begntime":"2024-06-01 09:58:00","mdtrt_cert_type":"02","mdtrt_cert_no":"440300199001011234","ipt_otp_no":"MZ20240601001","atddr_no":"D0012","dr_name":"王医生","dept_code":"0301","dept_name":"内科","caty":"A03"}}' % PSN)
IN["2202"] = loads('{"data":{"psn_no":"%s","mdtrt_id":"%s","ipt_otp_no":"MZ20240601001"}}' % (PSN, MDTRT))
IN["2204"] = loads('''{"feedetail":[
{"feedetl_sn":"F0001","mdtrt_id":"%s","psn_no":"%s","chrg_bchno":"CB0001","dise_codg":"","rxno":"RX01","rx_circ_flag":"0","fee_ocur_time":"2024-06-01 10:05:00","med_list_codg":"XA01ABD075A002010100483","medins_list_codg":"YP0001","det_item_fee_sumamt":4.52,"cnt":2,"pric":"2.26","sin_dos_dscr":"1片","used_frqu_dscr":"tid","prd_days":3,"medc_way_dscr":"口服","bilg_dept_codg":"0301","bilg_dept_name":"内科","bilg_dr_codg":"D0012","bilg_dr_name":"王医生","hosp_appr_flag":"1"},
{"feedetl_sn":"F0002","mdtrt_id":"%s","psn_no":"%s","chrg_bchno":"CB0001","rx_circ_flag":"0","fee_ocur_time":"2024-06-01 10:06:00","med_list_codg":"001102000010000","medins_list_codg":"ZL0002","det_item_fee_sumamt":95.48,"cnt":1.0000,"pric":95.480000,"bilg_dept_codg":"0301","bilg_dept_name":"内科","bilg_dr_codg":"D0012","bilg_dr_name":"王医生","hosp_appr_flag":"1","exp_content":{"oprn_flag":"0"}}]}''' % (MDTRT, PSN, MDTRT, PSN))
IN["2205"] = loads('{"data":{"mdtrt_id":"%s","chrg_bchno":"0000","psn_no":"%s"}}' % (MDTRT, PSN))
IN["2206"] = loads('{"data":{"psn_no":"%s","mdtrt_cert_type":"02","mdtrt_cert_no":"440300199001011234","med_type":"11","medfee_sumamt":100.00,"psn_setlway":"01","mdtrt_id":"%s","chrg_bchno":"CB0001","acct_used_flag":"1","insutype":"310"}}' % (PSN, MDTRT))
IN["2207"] = loads('{"data":{"psn_no":"%s","mdtrt_cert_type":"02","mdtrt_cert_no":"440300199001011234","med_type":"11","medfee_sumamt":100.00,"psn_setlway":"01","mdtrt_id":"%s","chrg_bchno":"CB0001","insutype":"310","acct_used_flag":"1","invono":"","fulamt_ownpay_amt":10.00,"overlmt_selfpay":0.00,"preselfpay_amt":5.00,"inscp_scp_amt":85.00}}' % (PSN, MDTRT))
IN["2208"] = loads('{"data":{"setl_id":"440000000456","mdtrt_id":"%s","psn_no":"%s"}}' % (MDTRT, PSN))
IN["2301"] = loads('''{"feedetail":[
{"feedetl_sn":"ZY0001","init_feedetl_sn":"","mdtrt_id":"500000000123","drord_no":"YZ001","psn_no":"50000000000000000007","med_type":"21","fee_ocur_time":"2024-06-03 08:00:00","med_list_codg":"110200001","medins_list_codg":"CW001","det_item_fee_sumamt":60.0,"cnt":2,"pric":30,"bilg_dept_codg":"0501","bilg_dept_name":"外科","bilg_dr_codg":"D0101","bilg_dr_name":"赵医生","hosp_appr_flag":"1"},
{"feedetl_sn":"ZY0002","init_feedetl_sn":"ZY0001","mdtrt_id":"500000000123","psn_no":"50000000000000000007","med_type":"21","fee_ocur_time":"2024-06-03 09:00:00","med_list_codg":"110200001","medins_list_codg":"CW001","det_item_fee_sumamt":-30.00,"cnt":-1,"pric":30.000000,"bilg_dept_codg":"0501","bilg_dept_name":"外科","bilg_dr_codg":"D0101","bilg_dr_name":"赵医生","memo":"退费"}]}''')
IN["2302"] = loads('{"data":[{"feedetl_sn":"ZY0002","mdtrt_id":"500000000123","psn_no":"50000000000000000007"},{"feedetl_sn":"ZY0003","mdtrt_id":"500000000123","psn_no":"50000000000000000007","exp_content":""}]}')
IN["2303"] = loads('{"data":{"psn_no":"50000000000000000007","mdtrt_cert_type":"03","mdtrt_cert_no":"D12345678","medfee_sumamt":23442.46,"psn_setlway":"01","mdtrt_id":"500000000123","acct_used_flag":"1","insutype":"310","invono":"","mid_setl_flag":"0","fulamt_ownpay_amt":2533.97,"overlmt_selfpay":1396.89,"preselfpay_amt":703.44,"inscp_scp_amt":18808.16,"dscgTime":"2024-06-05 15:00:00"}}')
IN["2304"] = loads('{"data":{"psn_no":"50000000000000000007","mdtrt_cert_type":"03","mdtrt_cert_no":"D12345678","medfee_sumamt":23442.46,"psn_setlway":"01","mdtrt_id":"500000000123","acct_used_flag":"1","insutype":"310","invono":"FP0001","mid_setl_flag":"0","fulamt_ownpay_amt":2533.97,"overlmt_selfpay":1396.89,"preselfpay_amt":703.44,"inscp_scp_amt":18808.16,"exp_content":{"dscg_way":"1"}}}')
IN["2305"] = loads('{"data":{"mdtrt_id":"500000000123","setl_id":"500000000789","psn_no":"50000000000000000007","exp_content":null}}')
IN["2401"] = loads('''{"mdtrtinfo":{"psn_no":"50000000000000000007","insutype":"310","coner_name":"周某","tel":"13800000000","begntime":"2024-06-01 08:30:00","mdtrt_cert_type":"03","mdtrt_cert_no":"D12345678","med_type":"21","ipt_no":"ZY20240601001","medrcdno":"BA001","atddr_no":"D0101","chfpdr_name":"赵医生","adm_diag_dscr":"急性阑尾炎","adm_dept_codg":"0501","adm_dept_name":"外科","adm_bed":"12","dscg_maindiag_code":"K35.800","dscg_maindiag_name":"急性阑尾炎","main_cond_dscr":"","geso_val":"","fetts":null},
"diseinfo":[{"psn_no":"50000000000000000007","diag_type":"1","maindiag_flag":"1","diag_srt_no":"1","diag_code":"K35.800","diag_name":"急性阑尾炎","adm_cond":"有","diag_dept":"外科","dise_dor_no":"D0101","dise_dor_name":"赵医生","diag_time":"2024-06-01 08:40:00"}]}''')
IN["2402"] = loads('''{"dscginfo":{"mdtrt_id":"500000000123","psn_no":"50000000000000000007","insutype":"310","endtime":"2024-06-05 15:00:00","dscg_dept_codg":"0501","dscg_dept_name":"外科","dscg_bed":"12","dscg_way":"1","die_date":""},
"diseinfo":[{"mdtrt_id":"500000000123","psn_no":"50000000000000000007","diag_type":"1","maindiag_flag":"1","diag_srt_no":1,"diag_code":"K35.800","diag_name":"急性阑尾炎","diag_dept":"外科","dise_dor_no":"D0101","dise_dor_name":"赵医生","diag_time":"2024-06-05 14:00:00"}]}''')
IN["2601"] = loads('{"data":{"psn_no":"%s","omsgid":"H44030000001202406011030150001","oinfno":"2207"}}' % PSN)
IN["3201"] = loads('{"data":{"insutype":"310","clr_type":"11","setl_optins":"440399","stmt_begndate":"2024-06-01","stmt_enddate":"2024-06-30","medfee_sumamt":12345.67,"fund_pay_sumamt":8000.00,"acct_pay":2000.00,"fixmedins_setl_cnt":321}}')
IN["3202"] = loads('{"data":{"setl_optins":"440399","file_qury_no":"FQ202406300001","stmt_begndate":"2024-06-01","stmt_enddate":"2024-06-30","medfee_sumamt":12345.67,"fund_pay_sumamt":8000.00,"cash_payamt":2345.67,"fixmedins_setl_cnt":"321","clr_type":"11","refd_setl_flag":"0"}}')
IN["3203"] = loads('{"data":{"clr_type":"11","clr_way":"1","setlym":"202406","psntime":321,"medfee_sumamt":12345.67,"med_sumfee":11000.00,"fund_appy_sum":8000.00,"cash_payamt":2345.67,"acct_pay":2000.00,"begndate":"2024-06-01","enddate":"2024-06-30"}}')
IN["4101"] = loads('''{"setlinfo":{"mdtrt_id":"500000000123","setl_id":"500000000789","fixmedins_name":"示例医院","fixmedins_code":"H50011200001","hi_setl_lv":"3","hi_no":"","medcasno":"BA001","dcla_time":"2024-06-06 09:00:00","psn_name":"周某","gend":"1","brdy":"1970-03-15","age":54.2,"ntly":"CHN","nwb_age":null,"naty":"01","patn_cert_type":"01","certno":"500112197003151234","prfs":"17","coner_name":"周某某","patn_rlts":"10","coner_addr":"重庆市渝北区","coner_tel":"13800000000","hi_type":"310","insuplc":"500000","ipt_med_type":"1","adm_way":"2","trt_type":"1","adm_time":"2024-06-01 08:30:00","adm_caty":"A07","dscg_time":"2024-06-05 15:00:00","dscg_caty":"A07","act_ipt_days":4,"maindiag_flag":"1","bill_code":"500101","bill_no":"0001234","biz_sn":"BIZ0001","setl_begn_date":"2024-06-01","setl_end_date":"2024-06-05","psn_selfpay":703.44,"psn_ownpay":3930.86,"acct_pay":170.04,"psn_cashpay":3982.02,"hi_paymtd":"1","hsorg":"重庆市医保局","hsorg_opter":"经办员","medins_fill_dept":"医保办","medins_fill_psn":"钱某"},
"payinfo":[{"fund_pay_type":"330101","fund_payamt":18785.39}],
"diseinfo":[{"diag_type":"1","diag_code":"K35.800","diag_name":"急性阑尾炎","adm_cond_type":"1","maindiag_flag":"1"}],
"iteminfo":[{"med_chrgitm":"01","amt":120.00,"claa_sumfee":120.00,"clab_amt":0,"fulamt_ownpay_amt":0,"oth_amt":0}],
"oprninfo":[{"oprn_oprt_type":"1","oprn_oprt_name":"腹腔镜阑尾切除术","oprn_oprt_code":"47.0100","oprn_oprt_date":"2024-06-01","anst_way":"1","oper_dr_name":"赵医生","oper_dr_code":"D0101"}],
"icuinfo":[]}''')
IN["9001"] = loads('{"signIn":{"opter_no":"0001","mac":"00-11-22-33-44-55","ip":"10.0.0.8"}}')
IN["9002"] = loads('{"signOut":{"sign_no":"440000202406010800000000000123","opter_no":"0001"}}')

# ---------------------------------------------------------------- outputs
SETLINFO_B = loads('''{"mdtrt_id":"440000000123","setl_id":"440000000456","psn_no":"44000000000000000001","psn_name":"李四",
"psn_cert_type":"01","certno":"440300199001011234","gend":"1","naty":"01","brdy":"1990-01-01","age":34.0,
"insutype":"310","psn_type":"1101","cvlserv_flag":"0","setl_time":"2024-06-01 10:30:16","mdtrt_cert_type":"02",
"med_type":"11","medfee_sumamt":100.00,"fulamt_ownpay_amt":10.00,"overlmt_selfpay":0.00,"preselfpay_amt":5.00,
"inscp_scp_amt":85.00,"act_pay_dedc":0.00,"hifp_pay":59.50,"pool_prop_selfpay":0.7000,"cvlserv_pay":0,"hifes_pay":0,
"hifmi_pay":0,"hifob_pay":0,"maf_pay":0,"oth_pay":0,"fund_pay_sumamt":59.50,"psn_part_amt":40.50,"acct_pay":30.00,
"psn_cash_pay":10.50,"hosp_part_amt":0,"balc":970.00,"acct_mulaid_pay":0,
"medins_setl_id":"H44030000001202406011030150001","clr_optins":"440399","clr_way":"1","clr_type":"11"}''')
SETLDETAIL_B = loads('''[{"fund_pay_type":"310100","inscp_scp_amt":85.00,"crt_payb_lmt_amt":null,"fund_payamt":59.50,
"fund_pay_type_name":"职工基本医疗保险统筹基金","setl_proc_info":null},
{"fund_pay_type":"310200","inscp_scp_amt":85.00,"crt_payb_lmt_amt":null,"fund_payamt":30.00,
"fund_pay_type_name":"职工基本医疗保险个人账户基金","setl_proc_info":null}]''')
OUT_B = {"setlinfo": SETLINFO_B, "setldetail": SETLDETAIL_B}

# 2304, inpatient (§5.1 C): one- and two-decimal amounts, a 999996 line, platform extras
SETLINFO_C = loads('''{"mdtrt_id":"500000000123","setl_id":"500000000789","psn_no":"50000000000000000007","psn_name":"周某",
"psn_cert_type":"01","certno":"500112197003151234","gend":"1","naty":"01","brdy":"1970-03-15","age":54.2,
"insutype":"310","psn_type":"12","cvlserv_flag":"0","setl_time":"2024-06-05 15:30:23","mdtrt_cert_type":"03",
"med_type":"21","medfee_sumamt":23442.46,"fulamt_ownpay_amt":2533.97,"overlmt_selfpay":1396.89,"preselfpay_amt":703.44,
"inscp_scp_amt":18808.16,"act_pay_dedc":1200.0,"hifp_pay":0.0,"pool_prop_selfpay":0,"cvlserv_pay":0,"hifes_pay":0,
"hifmi_pay":0,"hifob_pay":18785.39,"maf_pay":0,"hosp_part_amt":505.01,"oth_pay":0,"fund_pay_sumamt":18785.39,
"psn_part_amt":4152.06,"acct_pay":170.04,"psn_cash_pay":3982.02,"balc":1208.5,"acct_mulaid_pay":0,
"medins_setl_id":"H50011200001202406051530220017","clr_optins":"500112","clr_way":"3","clr_type":"21","hifdm_pay":0,
"exp_content":null,"insu_admdvs":"500000","psn_insu_rlts_id":"50000000000012345678","begndate":"2024-06-01 08:30:00","enddate":"2024-06-05 15:00:00"}''')
SETLDETAIL_C = loads('''[{"fund_pay_type":"330101","inscp_scp_amt":18808.16,"crt_payb_lmt_amt":400000,"fund_payamt":18785.39,"fund_pay_type_name":"职工大额医疗费用补助基金","setl_proc_info":"","fund_payamt_ext":null},
{"fund_pay_type":"999996","inscp_scp_amt":0,"crt_payb_lmt_amt":null,"fund_payamt":505.01,"fund_pay_type_name":"医院垫付基金","setl_proc_info":null},
{"fund_pay_type":"310201","inscp_scp_amt":0,"crt_payb_lmt_amt":null,"fund_payamt":170.04,"fund_pay_type_name":"职工个人账户","setl_proc_info":null}]''')
OUT_C = {"setlinfo": SETLINFO_C, "setldetail": SETLDETAIL_C}


def negate_amounts(setlinfo, keep=("balc", "pool_prop_selfpay", "age", "crt_payb_lmt_amt")):
    out = copy.deepcopy(setlinfo)
    for k, v in out.items():
        if isinstance(v, Decimal) and k not in keep:
            out[k] = -v if v != 0 else v
    return out


OUT = {}
OUT["1101"] = loads('''{"baseinfo":{"psn_no":"44000000000000000001","psn_cert_type":"01","certno":"440300199001011234","psn_name":"李四","gend":"1","naty":"01","brdy":"1990-01-01","age":34.0,"exp_content":null},
"insuinfo":[{"balc":1000.00,"insutype":"310","psn_type":"1101","psn_insu_stas":"1","psn_insu_date":"2015-07-01","paus_insu_date":null,"cvlserv_flag":"0","insuplc_admdvs":"440399","emp_name":"示例公司"},
{"balc":0,"insutype":"390","psn_type":"1501","psn_insu_stas":"4","psn_insu_date":"2010-01-01","paus_insu_date":"2015-06-30","cvlserv_flag":"0","insuplc_admdvs":"440399","emp_name":""}],
"idetinfo":[{"psn_idet_type":"21","psn_type_lv":"","memo":"","begntime":"2020-01-01 00:00:00","endtime":null}]}''')
OUT["2201"] = loads('{"data":{"mdtrt_id":"%s","psn_no":"%s","ipt_otp_no":"MZ20240601001"}}' % (MDTRT, PSN))
OUT["2204"] = loads('''{"result":[
{"feedetl_sn":"F0001","det_item_fee_sumamt":4.52,"cnt":2.0000,"pric":2.260000,"pric_uplmt_amt":999999,"selfpay_prop":0.05,"fulamt_ownpay_amt":0,"overlmt_amt":0,"preselfpay_amt":0.23,"inscp_scp_amt":4.29,"chrgitm_lv":"02","med_chrgitm_type":"09","bas_medn_flag":"0","hi_nego_drug_flag":"0","chld_medc_flag":"0","list_sp_item_flag":"0","lmt_used_flag":"0","drt_reim_flag":"0","memo":""},
{"feedetl_sn":"F0002","det_item_fee_sumamt":95.48,"cnt":1,"pric":95.48,"pric_uplmt_amt":null,"selfpay_prop":0,"fulamt_ownpay_amt":9.54,"overlmt_amt":0,"preselfpay_amt":0,"inscp_scp_amt":85.94,"chrgitm_lv":"01","med_chrgitm_type":"05"}]}''')
OUT["2206"] = {"setlinfo": {**{k: v for k, v in SETLINFO_B.items()}, "setl_id": None, "setl_time": None, "clr_optins": None, "clr_way": None}, "setldetail": SETLDETAIL_B}
OUT["2208"] = {"setlinfo": {**negate_amounts(SETLINFO_B), "setl_id": "440000000457", "setl_time": "2024-06-01 11:00:01", "balc": D("1000.00"), "medins_setl_id": "H44030000001202406011100000002"},
               "setldetail": [{**d, "fund_payamt": -d["fund_payamt"], "inscp_scp_amt": -d["inscp_scp_amt"]} for d in SETLDETAIL_B]}
OUT["2301"] = loads('''{"result":[
{"feedetl_sn":"ZY0001","det_item_fee_sumamt":60.00,"cnt":2,"pric":30,"selfpay_prop":0,"fulamt_ownpay_amt":0,"overlmt_amt":10.00,"preselfpay_amt":0,"inscp_scp_amt":50.00,"chrgitm_lv":"01","med_chrgitm_type":"01"},
{"feedetl_sn":"ZY0002","det_item_fee_sumamt":-30.00,"cnt":-1,"pric":30,"selfpay_prop":0,"fulamt_ownpay_amt":0,"overlmt_amt":-5.00,"preselfpay_amt":0,"inscp_scp_amt":-25.00,"chrgitm_lv":"01","med_chrgitm_type":"01"}]}''')
OUT["2303"] = {"setlinfo": {k: v for k, v in SETLINFO_C.items() if k not in ("setl_id",)}, "setldetail": SETLDETAIL_C}
OUT["2303"]["setlinfo"]["setl_time"] = None
OUT["2304"] = OUT_C
SETLINFO_C_REV = {**negate_amounts(SETLINFO_C), "setl_id": "500000000790", "setl_time": "2024-06-07 09:12:40",
                  "balc": D("1378.54"), "medins_setl_id": "H50011200001202406070912390003", "setl_type": "2",
                  "psn_pay": D("-4152.06"), "ownpay_hosp_part": D("0")}
OUT["2305"] = {"setlinfo": SETLINFO_C_REV,
               "setldetail": [{**d, "fund_payamt": -d["fund_payamt"]} for d in SETLDETAIL_C]}
OUT["2401"] = loads('{"result":{"mdtrt_id":"500000000123"}}')
OUT["3201"] = loads('{"stmtinfo":{"setl_optins":"440399","stmt_rslt":"0","stmt_rslt_dscr":"平帐"}}')
OUT["3202"] = loads('{"fileinfo":{"file_qury_no":"FQ202406300099","filename":"result_3202.zip","dld_endtime":"2024-07-01 23:59:59"}}')
OUT["3203"] = loads('{"result":{"clr_appy_evt_id":"CLR202406000123"}}')
OUT["4101"] = loads('{"setl_list_id":"QD0000123"}')
OUT["9001"] = loads('{"signinoutb":{"sign_no":"440000202406010800000000000123","sign_time":"2024-06-01 08:00:00"}}')
OUT["9002"] = loads('{"signoutoutb":{"sign_time":"2024-06-01 18:00:00"}}')

ENV_2304 = dict(msgid_tail="202406051530220017", code="H50011200001", name="重庆示例医院", area="500112",
                insuplc="500000")
ENV_2305 = dict(msgid_tail="202406070912390003", code="H50011200001", name="重庆示例医院", area="500112",
                insuplc="500000")
ENV_2208 = dict(msgid_tail="202406011100000002")

# ================================================================ accept: requests
num = 0


def nm(short):
    global num
    num += 1
    return f"{num:03d}-{short}"


for infno, inp in IN.items():
    kw = {}
    if infno in ("2301", "2302", "2303", "2304", "2305", "2401", "2402", "4101"):
        kw = ENV_2305 if infno == "2305" else ENV_2304
    if infno == "2208":
        kw = ENV_2208
    if infno in ("9001", "1101"):
        kw = dict(sign_no="", insuplc="440300")
    case(nm(f"request-{infno}"), "request", f"a valid {infno} request", dumps(req(infno, inp, **kw)),
         accept="oracle")

# ================================================================ accept: responses
for infno, out in OUT.items():
    case(nm(f"response-{infno}"), "response", f"a valid {infno} response", dumps(resp(out)),
         accept="oracle", infno=infno)
case(nm("response-2202-no-output"), "response", "2202 answers with output null", dumps(resp(None)),
     accept="oracle", infno="2202")
case(nm("response-2601-infcode-text"), "response", "2601 success with infcode as the string \"0\", err_msg \"成功\" and an empty output object",
     dumps(resp({}, infcode="0", err_msg="成功")), accept="oracle", infno="2601")
case(nm("response-failure-text-infcode"), "response", "a failure: infcode \"-1\" as text, err_msg set, output null",
     dumps(resp(None, infcode="-1", err_msg="人员未参保")), accept="oracle", infno="2207")
case(nm("response-infer-shape"), "response", "a 9001 response without a declared infno: the shape is inferred, infno null",
     dumps(resp(OUT["9001"])), accept="oracle")

# ================================================================ accept: settled claims (expected by hand)
CLAIM_A_B = {
    "kind": "settlement", "infno": "2207", "msgid": "H44030000001202406011030150001",
    "setl_id": "440000000456", "mdtrt_id": "440000000123", "psn_no": "44000000000000000001",
    "psn_name": "李四", "fixmedins_code": "H44030000001", "fixmedins_name": "示例医院",
    "mdtrtarea_admvs": "440300", "insuplc_admdvs": "440399", "clr_optins": "440399",
    "insutype": "310", "psn_type": "1101", "med_type": "11", "clr_type": "11", "clr_way": "1",
    "setl_time": "2024-06-01T10:30:16+08:00",
    "medfee_sumamt": 10000, "fulamt_ownpay_amt": 1000, "overlmt_selfpay": 0, "preselfpay_amt": 500,
    "inscp_scp_amt": 8500, "act_pay_dedc": 0, "hifp_pay": 5950, "pool_prop_selfpay": 7000,
    "cvlserv_pay": 0, "hifes_pay": 0, "hifmi_pay": 0, "hifob_pay": 0, "maf_pay": 0, "hifdm_pay": 0,
    "oth_pay": 0, "fund_pay_sumamt": 5950, "psn_part_amt": 4050, "acct_pay": 3000,
    "psn_cash_pay": 1050, "hosp_part_amt": 0, "balc": 97000, "acct_mulaid_pay": 0,
    "setldetail": [
        {"fund_pay_type": "310100", "fund_pay_type_name": "职工基本医疗保险统筹基金", "inscp_scp_amt": 8500, "fund_payamt": 5950},
        {"fund_pay_type": "310200", "fund_pay_type_name": "职工基本医疗保险个人账户基金", "inscp_scp_amt": 8500, "fund_payamt": 3000},
    ],
}
EX_A_B = {"request": req("2207", IN["2207"]), "response": resp(OUT_B)}
case(nm("exchange-2207-example-a-b"), "exchange", "§5.1 A + B: outpatient settlement → canonical claim in fen",
     dumps(EX_A_B, indent=1), accept=CLAIM_A_B)

# amounts as decimal strings: the same claim
ex = copy.deepcopy(EX_A_B)
for k in ("medfee_sumamt", "fulamt_ownpay_amt", "preselfpay_amt", "inscp_scp_amt"):
    ex["request"]["input"]["data"][k] = str(ex["request"]["input"]["data"][k])
s = ex["response"]["output"]["setlinfo"]
s["medfee_sumamt"] = "100.00"; s["hifp_pay"] = "59.5"; s["fund_pay_sumamt"] = "59.50"; s["acct_pay"] = "30"
s["pool_prop_selfpay"] = "0.7"; s["balc"] = "970.0000"
ex["response"]["output"]["setldetail"][0]["fund_payamt"] = "59.50"
case(nm("exchange-2207-string-amounts"), "exchange", "amounts sent as decimal strings (\"59.5\", \"970.0000\", ratio \"0.7\") decode exactly like numbers",
     dumps(ex, indent=1), accept=CLAIM_A_B)

# exponent amounts
ex = copy.deepcopy(EX_A_B)
s = ex["response"]["output"]["setlinfo"]
s["medfee_sumamt"] = D("1.0E2"); s["hifp_pay"] = D("5950e-2"); s["fund_pay_sumamt"] = D("0.595E2"); s["balc"] = D("9.7e2")
ex["request"]["input"]["data"]["medfee_sumamt"] = D("1e2")
case(nm("exchange-2207-exponent-amounts"), "exchange", "JSON exponent numbers (1.0E2, 5950e-2) are exact and accepted",
     dumps(ex, indent=1), accept=CLAIM_A_B)

# infcode as text, err_msg 成功, nulls for optional amounts
ex = copy.deepcopy(EX_A_B)
ex["response"]["infcode"] = "0"; ex["response"]["err_msg"] = "成功"; ex["response"]["warn_msg"] = None
s = ex["response"]["output"]["setlinfo"]
for k in ("cvlserv_pay", "hifes_pay", "hifmi_pay", "balc", "pool_prop_selfpay", "acct_mulaid_pay", "psn_cert_type", "brdy"):
    s[k] = None
ex["request"]["dev_no"] = None; ex["request"]["cainfo"] = None; ex["request"]["signtype"] = None
claim = copy.deepcopy(CLAIM_A_B); del claim["balc"]; del claim["pool_prop_selfpay"]
case(nm("exchange-2207-text-infcode-nulls"), "exchange", "infcode \"0\", err_msg \"成功\", null optional amounts (→ 0 or absent) and null envelope fields",
     dumps(ex, indent=1), accept=claim)

# unknown fields everywhere
ex = copy.deepcopy(EX_A_B)
ex["request"]["fixmedins_soft_fcty"] = "示例软件有限公司"; ex["request"]["enc_type"] = ""
ex["request"]["input"]["data"]["pub_hosp_rfom_flag"] = "1"; ex["request"]["input"]["data"]["exp_content"] = {"oprn_flag": "0"}
ex["request"]["input"]["data"]["local_field"] = "x"
ex["response"]["cainfo"] = ""; ex["response"]["signtype"] = "SM2"; ex["response"]["enctype"] = ""; ex["response"]["trace_id"] = "abc"
ex["response"]["output"]["setlinfo"]["expContent"] = {"cash_selfdspo_pay": D("0.00")}
ex["response"]["output"]["setldetail"][0]["fund_pay_sub_type"] = "31010001"
ex["response"]["output"]["extra_node"] = []
case(nm("exchange-2207-unknown-fields"), "exchange", "provincial extras (fixmedins_soft_fcty, enc_type, expContent, unknown nodes) are tolerated",
     dumps(ex, indent=1), accept=CLAIM_A_B)

CLAIM_C = {
    "kind": "settlement", "infno": "2304", "msgid": "H50011200001202406051530220017",
    "setl_id": "500000000789", "mdtrt_id": "500000000123", "psn_no": "50000000000000000007",
    "psn_name": "周某", "fixmedins_code": "H50011200001", "fixmedins_name": "重庆示例医院",
    "mdtrtarea_admvs": "500112", "insuplc_admdvs": "500000", "clr_optins": "500112",
    "insutype": "310", "psn_type": "12", "med_type": "21", "clr_type": "21", "clr_way": "3",
    "setl_time": "2024-06-05T15:30:23+08:00",
    "medfee_sumamt": 2344246, "fulamt_ownpay_amt": 253397, "overlmt_selfpay": 139689,
    "preselfpay_amt": 70344, "inscp_scp_amt": 1880816, "act_pay_dedc": 120000, "hifp_pay": 0,
    "pool_prop_selfpay": 0, "cvlserv_pay": 0, "hifes_pay": 0, "hifmi_pay": 0, "hifob_pay": 1878539,
    "maf_pay": 0, "hifdm_pay": 0, "oth_pay": 0, "fund_pay_sumamt": 1878539, "psn_part_amt": 415206,
    "acct_pay": 17004, "psn_cash_pay": 398202, "hosp_part_amt": 50501, "balc": 120850,
    "acct_mulaid_pay": 0,
    "setldetail": [
        {"fund_pay_type": "330101", "fund_pay_type_name": "职工大额医疗费用补助基金", "inscp_scp_amt": 1880816, "crt_payb_lmt_amt": 40000000, "fund_payamt": 1878539, "setl_proc_info": ""},
        {"fund_pay_type": "999996", "fund_pay_type_name": "医院垫付基金", "inscp_scp_amt": 0, "fund_payamt": 50501},
        {"fund_pay_type": "310201", "fund_pay_type_name": "职工个人账户", "inscp_scp_amt": 0, "fund_payamt": 17004},
    ],
}
EX_C = {"request": req("2304", IN["2304"], **ENV_2304), "response": resp(OUT_C, extra_top="x")}
EX_C["response"]["inf_refmsgid"] = "500000202406051530230000514555"
case(nm("exchange-2304-inpatient-real-shape"), "exchange",
     "§5.1 C inpatient settlement: one- and two-decimal amounts, a 999996 hospital-borne line, a 310201 account line, platform extras; 18785.39 → 1878539 fen",
     dumps(EX_C, indent=1), accept=CLAIM_C)

CLAIM_C_REV = {
    **{k: (-v if isinstance(v, int) and k not in ("balc", "pool_prop_selfpay") else v) for k, v in CLAIM_C.items() if k != "setldetail"},
    "kind": "reversal", "infno": "2305", "msgid": "H50011200001202406070912390003",
    "setl_id": "500000000790", "setl_time": "2024-06-07T09:12:40+08:00", "balc": 137854,
    "setldetail": [
        {"fund_pay_type": "330101", "fund_pay_type_name": "职工大额医疗费用补助基金", "inscp_scp_amt": 1880816, "crt_payb_lmt_amt": 40000000, "fund_payamt": -1878539, "setl_proc_info": ""},
        {"fund_pay_type": "999996", "fund_pay_type_name": "医院垫付基金", "inscp_scp_amt": 0, "fund_payamt": -50501},
        {"fund_pay_type": "310201", "fund_pay_type_name": "职工个人账户", "inscp_scp_amt": 0, "fund_payamt": -17004},
    ],
    "reversal_of": {"setl_id": "500000000789"},
}
EX_C_REV = {"request": req("2305", IN["2305"], **ENV_2305), "response": resp(OUT["2305"])}
case(nm("exchange-2305-reversal"), "exchange",
     "2305 reversal of the 2304 settlement: every amount negated, new setl_id, reversal_of names the original, extras (setl_type, psn_pay) kept out of the claim",
     dumps(EX_C_REV, indent=1), accept=CLAIM_C_REV)

CLAIM_D = {
    **{k: (-v if isinstance(v, int) and k not in ("balc", "pool_prop_selfpay") else v) for k, v in CLAIM_A_B.items() if k != "setldetail"},
    "kind": "reversal", "infno": "2208", "msgid": "H44030000001202406011100000002",
    "setl_id": "440000000457", "setl_time": "2024-06-01T11:00:01+08:00", "balc": 100000,
    "setldetail": [
        {"fund_pay_type": "310100", "fund_pay_type_name": "职工基本医疗保险统筹基金", "inscp_scp_amt": -8500, "fund_payamt": -5950},
        {"fund_pay_type": "310200", "fund_pay_type_name": "职工基本医疗保险个人账户基金", "inscp_scp_amt": -8500, "fund_payamt": -3000},
    ],
    "reversal_of": {"setl_id": "440000000456"},
}
EX_D = {"request": req("2208", IN["2208"], **ENV_2208), "response": resp(OUT["2208"])}
case(nm("exchange-2208-example-d"), "exchange", "§5.1 D: 2208 reversal, amounts negated (−100.00, −59.50, −30.00), new setl_id",
     dumps(EX_D, indent=1), accept=CLAIM_D)

# OH 2305 mock quirk: hosp_part_amt null, the hospital part returned as ownpay_hosp_part
QUIRK_SETL = loads('''{"mdtrt_id":"500000000124","setl_id":"500000000801","clr_optins":"500112","setl_time":"2024-06-08 10:00:00",
"medfee_sumamt":-3379.26,"fulamt_ownpay_amt":-956.34,"overlmt_selfpay":-186.31,"preselfpay_amt":-197.22,"inscp_scp_amt":-2039.39,
"act_pay_dedc":0,"hifp_pay":-2039.39,"pool_prop_selfpay":1,"cvlserv_pay":0,"hifes_pay":0,"hifmi_pay":0,"hifob_pay":0,"maf_pay":0,"oth_pay":0,
"fund_pay_sumamt":-2039.39,"psn_part_amt":-1307.01,"acct_pay":-307.01,"psn_cash_pay":-1000.00,"balc":1500.00,"acct_mulaid_pay":0,
"hosp_part_amt":null,"ownpay_hosp_part":-32.86,"medins_setl_id":"H50011200001202406081000000009","setl_type":"2","psn_pay":-1307.01,"cashPayamt":-1000.00,"inscp_amt":-2039.39,"dedc_std":1200,"crt_dedc":0,"insu_admdvs":"500000","othfund_pay":0,"psn_insu_rlts_id":"500000000000777","begndate":"2024-06-01","enddate":"2024-06-07"}''')
QUIRK = {"request": req("2305", {"data": {"mdtrt_id": "500000000124", "setl_id": "500000000800", "psn_no": "50000000000000000007", "exp_content": ""}},
                        msgid_tail="202406081000000009", code="H50011200001", name="重庆示例医院", area="500112", insuplc="500000"),
         "response": resp({"setlinfo": QUIRK_SETL, "setldetail": loads('[{"fund_pay_type":"310100","fund_payamt":-2039.39},{"fund_pay_type":"310200","fund_payamt":-307.01}]')})}
CLAIM_QUIRK = {
    "kind": "reversal", "infno": "2305", "msgid": "H50011200001202406081000000009", "setl_id": "500000000801",
    "mdtrt_id": "500000000124", "psn_no": "50000000000000000007", "fixmedins_code": "H50011200001",
    "fixmedins_name": "重庆示例医院", "mdtrtarea_admvs": "500112", "insuplc_admdvs": "500000", "clr_optins": "500112",
    "insutype": "", "med_type": "", "setl_time": "2024-06-08T10:00:00+08:00",
    "medfee_sumamt": -337926, "fulamt_ownpay_amt": -95634, "overlmt_selfpay": -18631, "preselfpay_amt": -19722,
    "inscp_scp_amt": -203939, "act_pay_dedc": 0, "hifp_pay": -203939, "pool_prop_selfpay": 10000, "cvlserv_pay": 0,
    "hifes_pay": 0, "hifmi_pay": 0, "hifob_pay": 0, "maf_pay": 0, "hifdm_pay": 0, "oth_pay": 0,
    "fund_pay_sumamt": -203939, "psn_part_amt": -130701, "acct_pay": -30701, "psn_cash_pay": -100000,
    "hosp_part_amt": 0, "balc": 150000, "acct_mulaid_pay": 0,
    "setldetail": [{"fund_pay_type": "310100", "fund_payamt": -203939}, {"fund_pay_type": "310200", "fund_payamt": -30701}],
    "reversal_of": {"setl_id": "500000000800"},
}
case(nm("exchange-2305-quirk-warn-only"), "exchange",
     "the OH 2305 mock quirk (hosp_part_amt null, −32.86 returned as ownpay_hosp_part) passes when NHSA-ID-2 is configured warn-only",
     dumps(QUIRK, indent=1), accept=CLAIM_QUIRK, options={"identity_warn_only": ["NHSA-ID-2"]})
case(nm("exchange-2305-quirk-strict"), "exchange", "the same quirk under the default strict policy is rejected with NHSA-ID-2",
     dumps(QUIRK, indent=1), rules=["NHSA-ID-2"], paths=["response.output.setlinfo.medfee_sumamt"])

# not a settlement / failed
case(nm("exchange-2206-not-settlement"), "exchange", "a successful 2206 pre-settlement is not a claim: outcome not_settlement",
     dumps({"request": req("2206", IN["2206"]), "response": resp(OUT["2206"])}, indent=1), accept="oracle-exchange")
case(nm("exchange-2207-failed"), "exchange", "a failed 2207 (infcode -1) is a distinct outcome, not a claim",
     dumps({"request": req("2207", IN["2207"]), "response": resp(None, infcode=D(-1), err_msg="个人账户余额不足")}, indent=1),
     accept="oracle-exchange")

# ================================================================ identities broken
def broken(short, desc, mutate, rule, path, base=EX_A_B):
    ex = copy.deepcopy(base)
    mutate(ex)
    case(nm(short), "exchange", desc, dumps(ex, indent=1), rules=[rule], paths=[path] if path else None)


def sl(ex):
    return ex["response"]["output"]["setlinfo"]


broken("identity-1", "NHSA-ID-1: fulamt_ownpay_amt 10.01 breaks medfee = ownpay + overlimit + preselfpay + in-scope",
       lambda ex: sl(ex).update(fulamt_ownpay_amt=D("10.01")), "NHSA-ID-1", "response.output.setlinfo.medfee_sumamt")
broken("identity-2", "NHSA-ID-2: hosp_part_amt 1.00 breaks medfee = fund + person + hospital",
       lambda ex: sl(ex).update(hosp_part_amt=D("1.00")), "NHSA-ID-2", "response.output.setlinfo.medfee_sumamt")
broken("identity-3", "NHSA-ID-3: psn_cash_pay 10.00 breaks person = account + cash",
       lambda ex: sl(ex).update(psn_cash_pay=D("10.00")), "NHSA-ID-3", "response.output.setlinfo.psn_part_amt")
broken("identity-4", "NHSA-ID-4: hifp_pay 59.00 breaks fund_pay_sumamt = Σ fund columns",
       lambda ex: sl(ex).update(hifp_pay=D("59.00")), "NHSA-ID-4", "response.output.setlinfo.fund_pay_sumamt")
broken("identity-5", "NHSA-ID-5: the 310100 line pays 59.00, not fund_pay_sumamt 59.50",
       lambda ex: ex["response"]["output"]["setldetail"][0].update(fund_payamt=D("59.00")), "NHSA-ID-5", "response.output.setldetail")
broken("identity-5-hospital-line", "NHSA-ID-5: the 999996 line (505.00) disagrees with hosp_part_amt 505.01",
       lambda ex: ex["response"]["output"]["setldetail"][1].update(fund_payamt=D("505.00")), "NHSA-ID-5", "response.output.setldetail", base=EX_C)


def positive_reversal(ex):
    ex["response"]["output"] = copy.deepcopy(OUT_B)
    sl(ex).update(setl_id="440000000457", medins_setl_id="H44030000001202406011100000002")


broken("identity-7-positive-reversal", "NHSA-ID-7: a 2208 reversal whose amounts are not negated",
       positive_reversal, "NHSA-ID-7", "response.output.setlinfo.medfee_sumamt", base=EX_D)


def negative_settlement(ex):
    ex["response"]["output"] = copy.deepcopy(OUT["2208"])
    sl(ex).update(setl_id="440000000456", medins_setl_id="H44030000001202406011030150001", medfee_sumamt=D("-100.00"))
    # The request stays as sent (a request's negative total is refused on its own, FMT-MONEY):
    # only the answer settles negative amounts.


broken("identity-7-negative-settlement", "NHSA-ID-7: a 2207 settlement with negative amounts",
       negative_settlement, "NHSA-ID-7", "response.output.setlinfo.medfee_sumamt")

broken("exchange-mismatched-visit", "the response settles another visit (mdtrt_id) than the request",
       lambda ex: sl(ex).update(mdtrt_id="440000000999"), "NHSA-ENV-EXCHANGE", "response.output.setlinfo.mdtrt_id")
broken("exchange-mismatched-total", "the response's medfee_sumamt differs from the request's",
       lambda ex: ex["request"]["input"]["data"].update(medfee_sumamt=D("100.01"), fulamt_ownpay_amt=D("10.01")), "NHSA-ENV-EXCHANGE", "response.output.setlinfo.medfee_sumamt")
broken("exchange-settlement-without-setl-id", "a 2207 success without setl_id cannot be a claim",
       lambda ex: sl(ex).update(setl_id=None), "FMT-REQUIRED", "response.output.setlinfo.setl_id")


# ================================================================ format rejects
def bad_req(short, desc, infno, mutate, rules, paths=None, kw=None):
    r = req(infno, copy.deepcopy(IN[infno]), **(kw or {}))
    mutate(r)
    case(nm(short), "request", desc, dumps(r) if not isinstance(r, str) else r, rules=rules, paths=paths)


def data(r):
    return r["input"]["data"]


bad_req("money-three-decimals", "an amount with a third non-zero decimal (100.001) is refused, never rounded", "2207",
        lambda r: data(r).update(medfee_sumamt=D("100.001")), ["FMT-MONEY"], ["input.data.medfee_sumamt"])
bad_req("money-three-decimals-text", "\"5.005\" as text is refused too", "2207",
        lambda r: data(r).update(preselfpay_amt="5.005"), ["FMT-MONEY"], ["input.data.preselfpay_amt"])
bad_req("money-exponent-overflow", "1e30 is out of range", "2207",
        lambda r: data(r).update(medfee_sumamt=D("1e30")), ["FMT-MONEY"], ["input.data.medfee_sumamt"])
bad_req("money-exponent-fraction", "1e-3 would be a tenth of a fen", "2207",
        lambda r: data(r).update(overlmt_selfpay=D("1e-3")), ["FMT-MONEY"], ["input.data.overlmt_selfpay"])
bad_req("money-precision", "15 integer digits exceed 16,2", "2207",
        lambda r: data(r).update(medfee_sumamt=D("100000000000000.00")), ["FMT-MONEY"], ["input.data.medfee_sumamt"])
bad_req("money-not-a-number", "\"1,000.00\" and \"NaN\" are not amounts", "2207",
        lambda r: data(r).update(medfee_sumamt="1,000.00", inscp_scp_amt="NaN"), ["FMT-MONEY"],
        ["input.data.medfee_sumamt", "input.data.inscp_scp_amt"])
bad_req("wrong-types", "an amount as a boolean, a text field as a number, a node as an array", "2207",
        lambda r: data(r).update(medfee_sumamt=True, psn_no=D(123), mdtrt_cert_type=["02"]), ["FMT-TYPE"],
        ["input.data.medfee_sumamt", "input.data.psn_no", "input.data.mdtrt_cert_type"])
bad_req("wrong-type-node", "input.data must be an object", "2207",
        lambda r: r["input"].update(data=[IN["2207"]["data"]]), ["FMT-TYPE"], ["input.data"])
bad_req("over-long-fields", "psn_no of 31 characters and opter_name of 51 Chinese characters", "2207",
        lambda r: (data(r).update(psn_no="4" * 31), r.update(opter_name="张" * 51)), ["FMT-LENGTH"],
        ["input.data.psn_no", "opter_name"])
bad_req("region-codes", "region codes must be 6 digits with a province 11–82", "2207",
        lambda r: r.update(mdtrtarea_admvs="44030", insuplc_admdvs="000000"), ["FMT-ADMDVS"],
        ["mdtrtarea_admvs", "insuplc_admdvs"])
bad_req("region-code-settlement-agency", "3201 setl_optins \"44O399\" (a letter O) is not a region code", "3201",
        lambda r: data(r).update(setl_optins="44O399"), ["FMT-ADMDVS"], ["input.data.setl_optins"])
bad_req("msgid-other-institution", "the msgid's code part is not the envelope's fixmedins_code", "2207",
        lambda r: r.update(msgid="H44030000009202406011030150001"), ["FMT-MSGID"], ["msgid"])
bad_req("msgid-impossible-time", "the msgid's time 2024-13-01 does not exist", "2207",
        lambda r: r.update(msgid="H44030000001202413011030150001"), ["FMT-MSGID"], ["msgid"])
bad_req("msgid-short-sequence", "a 3-digit sequence", "2207",
        lambda r: r.update(msgid="H4403000000120240601103015001"), ["FMT-MSGID"], ["msgid"])
bad_req("missing-required", "medfee_sumamt and mdtrt_id missing, fixmedins_name empty", "2207",
        lambda r: (data(r).pop("medfee_sumamt"), data(r).pop("mdtrt_id"), r.update(fixmedins_name="")), ["FMT-REQUIRED"],
        ["input.data.medfee_sumamt", "input.data.mdtrt_id", "fixmedins_name"])
bad_req("null-required", "psn_no null is missing", "2207",
        lambda r: data(r).update(psn_no=None), ["FMT-REQUIRED"], ["input.data.psn_no"])
bad_req("insuplc-required-with-person", "insuplc_admdvs is required when the input names a psn_no", "2207",
        lambda r: r.update(insuplc_admdvs=""), ["FMT-REQUIRED"], ["insuplc_admdvs"])
bad_req("quantity-precision", "feedetail[1].pric with 7 decimals and feedetail[0].cnt \"two\"", "2204",
        lambda r: (r["input"]["feedetail"][1].update(pric=D("95.4800001")), r["input"]["feedetail"][0].update(cnt="two")),
        ["FMT-NUMBER"], ["input.feedetail[1].pric", "input.feedetail[0].cnt"])
bad_req("datetime-format", "inf_time with a T and fee_ocur_time without seconds", "2204",
        lambda r: (r.update(inf_time="2024-06-01T10:30:15"), r["input"]["feedetail"][1].update(fee_ocur_time="2024-06-01 10:06")),
        ["FMT-DATETIME"], ["inf_time", "input.feedetail[1].fee_ocur_time"])
bad_req("date-format", "3201 stmt_begndate 2024/06/01 and stmt_enddate 2024-06-31", "3201",
        lambda r: data(r).update(stmt_begndate="2024/06/01", stmt_enddate="2024-06-31"), ["FMT-DATE"],
        ["input.data.stmt_begndate", "input.data.stmt_enddate"])
bad_req("unknown-infno", "infno 9999 is not served", "2207", lambda r: r.update(infno="9999"), ["NHSA-ENV-INFNO"], ["infno"])
bad_req("encrypted-input", "an SM4-encrypted (text) input is not accepted", "2207",
        lambda r: r.update(input="q83vEjRWeJA="), ["NHSA-ENV-INPUT"], ["input"])
bad_req("many-violations", "every violation of a message is reported, not just the first", "2207",
        lambda r: (data(r).update(medfee_sumamt=D("100.005"), invono="F" * 21), r.update(mdtrtarea_admvs="4403")),
        ["FMT-MONEY", "FMT-LENGTH", "FMT-ADMDVS"], ["input.data.medfee_sumamt", "input.data.invono", "mdtrtarea_admvs"])

deep = {"k": "v"}
for _ in range(40):
    deep = {"n": deep}
bad_req("depth-limit", "an exp_content nested 40 levels exceeds json_depth_max (32)", "2207",
        lambda r: data(r).update(exp_content=deep), ["FMT-DEPTH"])
case(nm("not-json"), "request", "a body that is not JSON", '{"infno":"2207","msgid":', rules=["FMT-JSON"])
CASES.append(dict(name=nm("invalid-utf8"), kind="request", description="bytes that are not UTF-8 (a GBK 张)",
                  input=b'{"infno":"2207","opter_name":"\xd5\xc5"}', accept=None, rules=["FMT-ENCODING"], paths=None,
                  infno=None, options=None))
case(nm("response-bad-infcode"), "response", "infcode \"ok\" is neither 0 nor a failure code",
     dumps(resp(OUT["9001"], infcode="ok")), rules=["NHSA-ENV-INFCODE"], paths=["infcode"], infno="9001")
case(nm("response-positive-infcode"), "response", "infcode 1 is not a national code", dumps(resp(None, infcode=D(1))),
     rules=["NHSA-ENV-INFCODE"], infno="2207")
bad = copy.deepcopy(OUT["2204"])
bad["result"][0]["det_item_fee_sumamt"] = D("4.62")
case(nm("response-2204-line-identity"), "response", "NHSA-ID-8: det_item_fee_sumamt 4.62 ≠ cnt 2 × pric 2.26 and ≠ its parts",
     dumps(resp(bad)), rules=["NHSA-ID-8"], paths=["output.result[0].det_item_fee_sumamt"], infno="2204")
bad = copy.deepcopy(OUT_B)
bad["setlinfo"]["psn_name"] = None
del bad["setlinfo"]["setl_time"]
bad["setldetail"][1]["fund_payamt"] = D("30.001")
case(nm("response-2207-missing-and-bad"), "response", "a 2207 result without setl_time and with a 3-decimal fund line",
     dumps(resp(bad)), rules=["FMT-REQUIRED", "FMT-MONEY"], paths=["output.setlinfo.setl_time", "output.setldetail[1].fund_payamt"], infno="2207")

# accept: tolerance cases
r = req("2207", copy.deepcopy(IN["2207"]), fixmedins_soft_fcty="示例软件", enc_type="")
r["dev_no"] = None; r["sign_no"] = None; data(r)["invono"] = None
case(nm("request-nulls-and-extras"), "request", "null optional fields and unknown top-level keys (kept under extra)",
     dumps(r), accept="oracle")
r = req("2207A", copy.deepcopy(IN["2207"]))
case(nm("request-2207A-alias"), "request", "2207A (without password check) decodes as 2207", dumps(r), accept="oracle")
r = req("2304", copy.deepcopy(IN["2304"]), **ENV_2304)
data(r)["medfee_sumamt"] = "23442.46"; data(r)["inscp_scp_amt"] = D("1.880816E4")
case(nm("request-2304-text-and-exponent"), "request", "amounts as text and with an exponent in one request", dumps(r), accept="oracle")
r = req("2401", copy.deepcopy(IN["2401"]), **ENV_2304)
r["input"]["mdtrtinfo"]["med_type"] = "990404"
case(nm("request-2401-local-med-type"), "request", "a local 6-digit med_type is opaque and accepted", dumps(r), accept="oracle")


# ================================================================ write
def expected_for(c, text):
    if isinstance(c["accept"], dict):
        return c["accept"]
    msg = loads(text)
    if c["accept"] == "oracle":
        if c["kind"] == "request":
            return oracle.request(msg)
        # a response without a declared infno: the oracle is told the shape (9001 here),
        # the adapter must infer it and report infno null
        return oracle.response(msg, c["infno"], shape_infno=c["infno"] or "9001")
    if c["accept"] == "oracle-exchange":
        rq = oracle.request(msg["request"])
        rs = oracle.response(msg["response"], msg["request"]["infno"])
        out = {"kind": "exchange", "outcome": "failed" if rs["infcode"] != 0 else "not_settlement",
               "infno": msg["request"]["infno"], "infcode": rs["infcode"]}
        if msg["response"].get("err_msg") is not None:
            out["err_msg"] = msg["response"]["err_msg"]
        out["request"] = rq
        out["response"] = rs
        return out
    raise ValueError(c["accept"])


def toml_str(s):
    return json.dumps(s, ensure_ascii=False)


def main():
    # Only the cases this script writes are replaced; hand-written cases (the provincial shapes,
    # 100 and up) stay.
    for c in CASES:
        if (OUT_DIR / c["name"]).exists():
            shutil.rmtree(OUT_DIR / c["name"])
    for c in CASES:
        d = OUT_DIR / c["name"]
        d.mkdir(parents=True)
        raw = c["input"]
        data_bytes = raw if isinstance(raw, bytes) else (raw + "\n").encode("utf-8")
        (d / "input.json").write_bytes(data_bytes)
        lines = ['dialect = "nhsa"', f'kind = "{c["kind"]}"', f'description = {toml_str(c["description"])}']
        if c["infno"]:
            lines.append(f'infno = "{c["infno"]}"')
        lines.append("")
        lines.append("[expected]")
        if c["accept"] is not None:
            lines.append('outcome = "accept"')
            exp = expected_for(c, raw)
            (d / "expected.json").write_text(dumps(exp, indent=2) + "\n", encoding="utf-8")
        else:
            lines.append('outcome = "reject"')
            lines.append("rules = [" + ", ".join(toml_str(r) for r in c["rules"]) + "]")
            if c["paths"]:
                lines.append("paths = [" + ", ".join(toml_str(p) for p in c["paths"]) + "]")
        if c["options"]:
            lines.append("")
            lines.append("[options]")
            for k, v in c["options"].items():
                lines.append(f"{k} = " + "[" + ", ".join(toml_str(x) for x in v) + "]")
        (d / "case.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(CASES)} cases to {OUT_DIR}")


OUT_DIR = CASES_DIR
if __name__ == "__main__":
    main()
