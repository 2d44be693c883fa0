/** Inline style and script of the HTML report: no CDN, no fonts, so the file works offline. */
export const STYLE = `
:root{--fail:#b42318;--pass:#067647;--warn:#b54708;--skip:#667085;--line:#d0d5dd;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#101828}
body{margin:0 auto;max-width:1200px;padding:16px 24px}
h1{font-size:24px;margin:8px 0}h2{font-size:18px;margin:24px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
.o-passed{color:var(--pass)}.o-failed,.o-interrupted{color:var(--fail)}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7;position:sticky;top:0}
th[data-k]{cursor:pointer;user-select:none}th[data-k]:after{content:' \\2195';color:#98a2b3}
th.asc:after{content:' \\2191'}th.desc:after{content:' \\2193'}
td.n,th.n{text-align:right}
.passed{color:var(--pass)}.failed{color:var(--fail);font-weight:600}.allowed-failure{color:var(--warn);font-weight:600}.skipped{color:var(--skip)}
.warning{border:2px solid var(--warn);background:#fffaeb;padding:8px 16px;border-radius:6px}
.failure{border:1px solid var(--line);border-left:4px solid var(--fail);border-radius:4px;margin:8px 0;padding:4px 12px}
.failure[data-status=allowed-failure]{border-left-color:var(--warn)}
.failure>summary{cursor:pointer;font-weight:600;padding:4px 0}
pre{background:#f9fafb;border:1px solid #eaecf0;padding:8px;overflow:auto;font-size:12px;white-space:pre-wrap;word-break:break-word}
.controls{display:flex;gap:8px;align-items:center;margin:8px 0;flex-wrap:wrap}
.controls input{flex:1;min-width:240px;padding:6px}.controls select{padding:6px}
.tag{display:inline-block;background:#eef4ff;color:#3538cd;border-radius:8px;padding:0 6px;margin:1px;font-size:12px}
.muted{color:#667085}
svg text{font-size:11px;fill:#344054}
`

export const SCRIPT = `
(function(){
var el=document.getElementById('data');if(!el)return;
var data=JSON.parse(el.textContent),PAGE=500;
var LABEL={p:'passed',f:'failed',a:'allowed to fail',s:'skipped'},CLS={p:'passed',f:'failed',a:'allowed-failure',s:'skipped'},RANK={f:0,a:1,p:2,s:3,'':4};
var rows=data.rows.map(function(r,i){return{r:r,i:i,text:(r[0]+' '+r[1]+' '+r[2]).toLowerCase(),cats:' '+r[2]+' ',st:' '+r[3].join(' ')+' '}});
var order=rows,matched=[],limit=PAGE;
var body=document.querySelector('#results tbody'),more=document.getElementById('more'),filter=document.getElementById('filter'),status=document.getElementById('status'),category=document.getElementById('category'),shown=document.getElementById('shown');
var ESC={'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'};
function esc(t){return String(t).replace(/[&<>"]/g,function(c){return ESC[c]})}
function ms(v){return v<1000?Math.round(v)+' ms':v<60000?(v/1000).toFixed(2)+' s':Math.floor(v/60000)+' min '+Math.round(v%60000/1000)+' s'}
function row(x){var r=x.r,h='<tr><td>'+esc(r[0])+'</td><td>'+esc(r[1])+'</td><td>'+(r[2]?r[2].split(' ').map(function(c){return '<span class="tag">'+esc(c)+'</span>'}).join(''):'')+'</td>';
for(var i=0;i<r[3].length;i++){var s=r[3][i];h+=s?'<td class="'+CLS[s]+'">'+LABEL[s]+'</td>':'<td class="muted">\u2014</td>'}
return h+'<td class="n" data-v="'+r[4]+'">'+ms(r[4])+'</td><td class="n" data-v="'+(r[5]==null?0:r[5])+'">'+(r[5]==null?'':ms(r[5]))+'</td></tr>'}
function draw(){var n=Math.min(limit,matched.length),h=[];for(var i=0;i<n;i++)h.push(row(matched[i]));body.innerHTML=h.join('');
shown.textContent=matched.length+' of '+rows.length+' tests shown';
if(matched.length>n){more.hidden=false;more.textContent='Show '+Math.min(PAGE,matched.length-n)+' more ('+(matched.length-n)+' not drawn yet)'}else more.hidden=true}
function apply(){var q=filter.value.trim().toLowerCase(),s=status.value,c=category.value;
matched=order.filter(function(x){return(!q||x.text.indexOf(q)>=0)&&(!s||x.st.indexOf(' '+s+' ')>=0)&&(!c||x.cats.indexOf(' '+c+' ')>=0)});limit=PAGE;draw()}
filter.addEventListener('input',apply);status.addEventListener('change',apply);category.addEventListener('change',apply);
more.addEventListener('click',function(){limit+=PAGE;draw()});
var heads=document.querySelectorAll('#results th[data-k]');
Array.prototype.forEach.call(heads,function(th){th.addEventListener('click',function(){
var k=th.getAttribute('data-k'),run=th.cellIndex-3,dir=th.classList.contains('asc')?-1:1;
Array.prototype.forEach.call(heads,function(h){h.classList.remove('asc','desc')});th.classList.add(dir===1?'asc':'desc');
function key(x){var r=x.r;return k==='t'?r[0].toLowerCase():k==='f'?r[1].toLowerCase():k==='c'?r[2]:k==='r'?RANK[r[3][run]]:k==='d'?r[4]:(r[5]==null?-1:r[5])}
var keyed=rows.map(function(x){return{x:x,v:key(x)}});
keyed.sort(function(a,b){return a.v<b.v?-dir:a.v>b.v?dir:a.x.i-b.x.i});
order=keyed.map(function(k){return k.x});apply()})});
apply();
})();
`
